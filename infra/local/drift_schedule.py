"""`make run`'s stand-in for Cloud Scheduler: POST monitor_drift's `/` every
DRIFT_INTERVAL_SECONDS and its `/performance` every QUALITY_INTERVAL_SECONDS.

A daemon thread per job calls the function, as the scheduler jobs do in the cloud, and prints
one line per run that found something (an empty window says nothing: it would fill the
screen). Stdlib only, like the rest of the launcher.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from infra.http_client import http_post_json
from infra.local.errors import LocalCloudError

DEFAULT_INTERVAL_SECONDS = 60.0
# Labels trickle in and a quality window is a day of them: every 5 minutes is plenty locally.
DEFAULT_QUALITY_INTERVAL_SECONDS = 300.0
REQUEST_TIMEOUT = 300.0  # the function's timeout in the cloud
# urllib would route loopback traffic through an http_proxy from the environment.


def interval_from_environ(
    environ: Mapping[str, str],
    key: str = "DRIFT_INTERVAL_SECONDS",
    default: float = DEFAULT_INTERVAL_SECONDS,
) -> float:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise LocalCloudError(f"{key}={raw!r} must be a number of seconds above 0")
    return value


def start(
    url: str, interval: float, summarize: Summary | None = None, job: str = "drift window"
) -> threading.Event:
    """Call POST url every interval seconds until the returned event is set; print what
    summarize (default: a drift window's summary) makes of each answer."""
    stop = threading.Event()
    thread = threading.Thread(
        target=_every,
        args=(url, interval, summarize or summary, job, stop),
        name=f"{job} schedule",
        daemon=True,
    )
    thread.start()
    return stop


def _every(url: str, interval: float, summarize: Summary, job: str, stop: threading.Event) -> None:
    while not stop.wait(interval):
        line = run_window(url, summarize, job)
        if line:
            print(line, flush=True)


def run_window(url: str, summarize: Summary | None = None, job: str = "drift window") -> str | None:
    """POST url once; a line to print, None when there is nothing to say."""
    try:
        report = http_post_json(url, REQUEST_TIMEOUT)
    except urllib.error.HTTPError as error:
        return f"{job} failed: HTTP {error.code} {error.read()[:300].decode(errors='replace')}"
    except (OSError, ValueError) as error:
        return f"{job} failed: {error}"
    return (summarize or summary)(report)


Summary = Callable[[Mapping[str, Any]], "str | None"]


def summary(report: Mapping[str, Any]) -> str | None:
    """`drift window: 12 records; version 1 ok: bmi PSI 0.031; report gs://...`"""
    records = report.get("window", {}).get("records", 0)
    if not records:
        return None
    parts = [f"drift window: {records} records"]
    for version in report.get("versions", []):
        figures = ", ".join(
            f"{feature['feature']} PSI {feature['psi']:.3f}"
            for feature in version.get("features", [])
            if "psi" in feature
        )
        parts.append(f"version {version['version']} {version['status']}: {figures or 'no PSI'}")
    alerts = len(report.get("alerts", []))
    parts.append(f"{alerts} alerts" if alerts else "no alert")
    parts.append(f"report {report.get('report')}")
    return "; ".join(parts)


def quality_summary(answer: Mapping[str, Any]) -> str | None:
    """`quality: diabetes-bmi v1 ok 412 labels RMSE 61.2 (test 61.5); no alert; report gs://...`
    per model with labels in the window; None when no model had any."""
    lines = []
    for report in answer.get("reports", []):
        parts = [f"quality: {report['model']}"]
        for version in report["versions"]:
            rmse = version["metrics"][0]
            expected = rmse["expected"]
            test = f" (test {expected:.4g})" if expected is not None else ""
            parts.append(
                f"v{version['version']} {version['status']} {version['n']} labels "
                f"RMSE {rmse['value']:.4g}{test}"
            )
        alerts = len(report["alerts"])
        parts.append(f"{alerts} alerts" if alerts else "no alert")
        parts.append(f"report {report['report']}")
        lines.append("; ".join(parts))
    return "\n".join(lines) or None
