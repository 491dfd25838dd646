"""`drift`, `performance` and `alerts`: the monitoring jobs from a terminal.

`drift` calls the monitor_drift function (make run's, or any URL it can reach; the deployed
one takes internal traffic only) rather than computing in this process: the function holds
the window's lease and runs one window at a time, so a window run by hand never splits
records with a scheduled one. `performance` reads the newest live quality report from the
bucket.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from google.cloud import storage

from functions.platform.config import Settings
from infra import names
from infra.http_client import http_post_json
from mlctl import messaging
from mlctl.tables import columns, quality_table
from model.gcs import storage_client

LOCAL_PORT = names.FUNCTIONS["monitor_drift"][1]
TIMEOUT_SECONDS = 300.0
# urllib would send loopback requests through an http_proxy from the environment.


def add_commands(commands: Any, settings: Settings) -> None:
    port = os.environ.get("MONITOR_DRIFT_PORT") or LOCAL_PORT
    drift = commands.add_parser(
        "drift", help="run a drift window now and print a table per version and feature"
    )
    drift.add_argument(
        "--url",
        default=os.environ.get("MONITOR_DRIFT_URL") or f"http://127.0.0.1:{port}/",
        help="monitor_drift's URL (MONITOR_DRIFT_URL, else make run's: %(default)s)",
    )
    drift.add_argument(
        "--token",
        default=os.environ.get("MONITOR_DRIFT_TOKEN"),
        help='identity token for a deployed function: "$(gcloud auth print-identity-token)"',
    )
    drift.add_argument("--json", action="store_true", help="print the report's JSON instead")

    performance = commands.add_parser(
        "performance", help="print the newest live quality report: per version and metric"
    )
    performance.add_argument("--model", default=argparse.SUPPRESS, help="model name")
    performance.add_argument("--json", action="store_true", help="print the report's JSON instead")

    alerts = commands.add_parser("alerts", help="print drift alerts, following until Ctrl-C")
    alerts.add_argument("--count", type=int, help="stop after this many alerts")
    alerts.add_argument("--timeout", type=float, help="stop after this many seconds")
    kind = alerts.add_mutually_exclusive_group()
    kind.add_argument(
        "--performance",
        action="store_const",
        const=names.PERFORMANCE_ALERTS_SUB,
        dest="subscription",
        help=f"live quality alerts instead ({names.PERFORMANCE_ALERTS_SUB})",
    )
    kind.add_argument("--subscription", help=f"({names.DRIFT_ALERTS_SUB})")
    alerts.set_defaults(subscription=names.DRIFT_ALERTS_SUB)


def drift(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        report = http_post_json(args.url, TIMEOUT_SECONDS, headers)
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        print(f"error: {args.url} answered {error.code}: {body}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else table(report))
    return 0


def performance(args: argparse.Namespace) -> int:
    client = storage_client(Settings.from_env().project_id)
    report = newest_quality_report(client, args.bucket, args.model)
    if report is None:
        print(
            f"no live quality report of {args.model} yet: it needs labelled rows "
            "(docs/feedback.md) and a run of POST /performance",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else quality_table(report))
    return 0


def newest_quality_report(client: storage.Client, bucket: str, model: str) -> dict[str, Any] | None:
    """The newest monitoring/<model>/performance/<timestamp>.json: names sort by time."""
    prefix = f"monitoring/{model}/performance/"
    blobs = client.list_blobs(bucket, prefix=prefix, delimiter="/")  # not cooldown/
    names_found = [blob.name for blob in blobs if blob.name.endswith(".json")]
    if not names_found:
        return None
    found: dict[str, Any] = json.loads(
        client.bucket(bucket).blob(max(names_found)).download_as_bytes()
    )
    return found


def alerts(args: argparse.Namespace) -> int:
    """Each alert as one JSON line: `results` on the alerts' subscription."""
    args.request_id = None
    return messaging.results(args)


def table(report: Mapping[str, Any]) -> str:
    """The report as a person reads it: one row per version and feature, then the rest."""
    window = report.get("window", {})
    lines = [
        f"model {report.get('model')}: {window.get('records', 0)} records "
        f"({window.get('invalid_records', 0)} unreadable), status {report.get('status', '-')}",
    ]
    if report.get("report") is None:
        lines.append(report.get("message", "nothing written"))
        return "\n".join(lines)
    lines.append(f"report {report['report']}")
    lines.append(f"image  {report.get('image')}")
    header = (
        "version",
        "status",
        "feature",
        "n",
        "PSI",
        "level",
        "KS",
        "KS p",
        "mean",
        "ref mean",
        "std",
        "ref std",
        "outside",
    )
    rows: list[tuple[str, ...]] = [header]
    for version in report.get("versions", []):
        for feature in version["features"]:
            rows.append(_feature_row(version, feature))
    lines.append(columns(rows))
    rollout = report.get("rollout")
    if rollout:
        lines.append(
            f"rollout: version {rollout['version']} takes {rollout['percent']:g}% of unpinned "
            f"requests; production is version {rollout['production_version']}"
        )
    for version in report.get("versions", []):
        role = f" ({version['role']})" if version.get("role") else ""
        lines.append(f"version {version['version']}{role}: {version['message']}")
        for transport, figures in version["transports"].items():
            if figures["records"]:
                latency = figures["latency_ms"]
                lines.append(
                    f"  {transport:<7}{figures['records']} records, {figures['instances']} "
                    f"instances, latency ms p50 {latency['p50']:.2f} p95 {latency['p95']:.2f} "
                    f"p99 {latency['p99']:.2f}"
                )
        spread = version["predictions"]
        if spread.get("count"):
            lines.append(
                f"  predictions mean {spread['mean']:.2f}, p05 {spread['p05']:.2f}, "
                f"p50 {spread['p50']:.2f}, p95 {spread['p95']:.2f}"
            )
    found = report.get("alerts", [])
    lines.append(
        "alerts: "
        + (
            ", ".join(f"version {a['version']} {a['feature']} PSI {a['psi']:.3f}" for a in found)
            or "none"
        )
    )
    return "\n".join(lines)


def _feature_row(version: Mapping[str, Any], feature: Mapping[str, Any]) -> tuple[str, ...]:
    serving = feature.get("serving", {})
    reference = feature.get("reference") or {}
    if "psi" not in feature:
        return (
            str(version["version"]),
            version["status"],
            feature["feature"],
            str(feature["n"]),
            "-",
            "-",
            "-",
            "-",
            f"{serving.get('mean', 0):.4g}",
            "-",
            f"{serving.get('std', 0):.4g}",
            "-",
            "-",
        )
    return (
        str(version["version"]),
        version["status"],
        feature["feature"],
        str(feature["n"]),
        f"{feature['psi']:.3f}",
        feature["psi_level"],
        f"{feature['ks_statistic']:.3f}",
        f"{feature['ks_pvalue']:.2g}",
        f"{serving['mean']:.4g}",
        f"{reference['mean']:.4g}",
        f"{serving['std']:.4g}",
        f"{reference['std']:.4g}",
        f"{feature['out_of_range_share']:.1%}",
    )
