"""`make run`'s stand-in for Cloud Scheduler: POST monitor_drift every DRIFT_INTERVAL_SECONDS.

A daemon thread calls the function, as the scheduler job does in the cloud, and prints one
line per window that had records (an empty window says nothing: it would fill the screen).
Stdlib only, like the rest of the launcher.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from infra.http_client import http_post_json
from infra.local.errors import LocalCloudError

DEFAULT_INTERVAL_SECONDS = 60.0
REQUEST_TIMEOUT = 300.0  # the function's timeout in the cloud
# urllib would route loopback traffic through an http_proxy from the environment.


def interval_from_environ(environ: Mapping[str, str]) -> float:
    raw = environ.get("DRIFT_INTERVAL_SECONDS", "").strip()
    if not raw:
        return DEFAULT_INTERVAL_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise LocalCloudError(f"DRIFT_INTERVAL_SECONDS={raw!r} must be a number of seconds above 0")
    return value


def start(url: str, interval: float) -> threading.Event:
    """Call POST url every interval seconds until the returned event is set."""
    stop = threading.Event()
    thread = threading.Thread(
        target=_every, args=(url, interval, stop), name="drift-schedule", daemon=True
    )
    thread.start()
    return stop


def _every(url: str, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        line = run_window(url)
        if line:
            print(line, flush=True)


def run_window(url: str) -> str | None:
    """POST url once; a line to print, None for an empty window."""
    try:
        report = http_post_json(url, REQUEST_TIMEOUT)
    except urllib.error.HTTPError as error:
        return (
            f"drift window failed: HTTP {error.code} {error.read()[:300].decode(errors='replace')}"
        )
    except (OSError, ValueError) as error:
        return f"drift window failed: {error}"
    return summary(report)


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
