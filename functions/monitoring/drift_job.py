"""One drift window, end to end: pull, compare, write the report, alert, then acknowledge.

The order is what makes a window safe: the records are acknowledged only after the report's
PNG and JSON are written and the alerts confirmed published. A failure before that hands
the window back (a crash lets its lease run out), so the next window sees the same records.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from google.cloud import pubsub_v1, storage
from google.cloud.storage.retry import DEFAULT_RETRY

from functions.monitoring import drift_window
from functions.platform import logs
from functions.platform.config import Settings
from functions.platform.errors import is_backend_failure
from model import drift_report
from model.artifact import ArtifactError, ModelArtifact
from model.drift_plot import Panel, drift_report_png
from model.drift_report import InvalidRecord, Record
from model.registry import Registry, VersionNotFound
from model.rollout import RolloutError, read_rollout

COMPONENT = "monitor_drift"
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
# Two windows at once would split the records between two reports: one at a time per process
# (and one instance in the cloud, see Terraform's monitor_drift size).
_one_window = threading.Lock()
# Versions are immutable: a loaded reference stays valid.
_artifacts: dict[tuple[str, str, int], ModelArtifact | None] = {}
_MAX_ARTIFACTS = 64


def report_path(model: str, stamp: str, extension: str) -> str:
    return f"monitoring/{model}/drift/{stamp}.{extension}"


def write_report(
    bucket: storage.Bucket, path: str, report: Mapping[str, Any], png: bytes, timeout: float
) -> None:
    """The PNG beside path, then the JSON at path: once the JSON exists, everything it names
    exists too. Create-only: a report is never overwritten."""
    retry = DEFAULT_RETRY.with_timeout(timeout)
    for name, data, content_type in (
        (path.removesuffix(".json") + ".png", png, "image/png"),
        (path, orjson.dumps(report, option=_JSON_OPTIONS), "application/json"),
    ):
        bucket.blob(name).upload_from_string(
            data, content_type=content_type, if_generation_match=0, timeout=timeout, retry=retry
        )


def timestamp(now: datetime) -> str:
    """The report's name: UTC, basic ISO 8601 with milliseconds, sorting by time."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass
class DriftJob:
    settings: Settings
    subscriber: pubsub_v1.SubscriberClient
    publisher: pubsub_v1.PublisherClient
    storage_client: storage.Client
    # Where reports go; the registry's bucket unless a test says otherwise.
    reports_bucket: str | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def run(self) -> dict[str, Any]:
        """Run one window; the report of the configured model (the answer of POST /)."""
        with _one_window:
            subscription = self.subscriber.subscription_path(
                self.settings.project_id, self.settings.drift_subscription
            )
            window = drift_window.pull(self.subscriber, subscription, self.settings.drift_window)
            try:
                answer = self._process(window)
            except BaseException:
                with contextlib.suppress(Exception):
                    drift_window.release(self.subscriber, window)
                raise
            drift_window.acknowledge(self.subscriber, window)
            return answer

    def _process(self, window: drift_window.Window) -> dict[str, Any]:
        records: list[Record] = []
        invalid = 0
        for data in window.data.values():
            try:
                records.append(drift_report.parse(data))
            except InvalidRecord as error:
                invalid += 1
                logs.warning(f"unreadable prediction-log record: {error}", component=COMPONENT)
        now = self.clock()
        summary = {
            "records": len(window.data),
            "invalid_records": invalid,
            "limit": self.settings.drift_window,
            "subscription": window.subscription,
            "first": min((record.time for record in records), default=None),
            "last": max((record.time for record in records), default=None),
        }
        if not window.data:
            return {
                "model": self.settings.model_name,
                "time": rfc3339(now),
                "window": summary,
                "versions": [],
                "alerts": [],
                "report": None,
                "message": "no records in the window: nothing written",
            }
        grouped = drift_report.group_by_model(records) or {self.settings.model_name: {}}
        stamp = timestamp(now)
        reports = {
            model: self._report(model, versions, summary, stamp, now)
            for model, versions in sorted(grouped.items())
        }
        for report in reports.values():
            self._alert(report)
        main = self.settings.model_name if self.settings.model_name in reports else min(reports)
        answer = dict(reports[main])
        if len(reports) > 1:  # a log topic shared by several models: each has its report
            answer["other_reports"] = [
                report["report"] for model, report in reports.items() if model != main
            ]
        return answer

    def _report(
        self,
        model: str,
        versions: Mapping[int, list[Record]],
        summary: dict[str, Any],
        stamp: str,
        now: datetime,
    ) -> dict[str, Any]:
        bucket = self.reports_bucket or self.settings.bucket
        min_samples = self.settings.drift_min_samples
        artifacts = {version: self._artifact(model, version) for version in versions}
        values = {
            version: drift_report.serving_values(records) for version, records in versions.items()
        }
        version_reports = [
            drift_report.version_report(
                version, records, values[version], artifacts[version], min_samples
            )
            for version, records in sorted(versions.items())
        ]
        alerts = drift_report.alerts(version_reports)
        rollout = self._rollout(model, version_reports)
        report = {
            "model": model,
            "time": rfc3339(now),
            "report": f"gs://{bucket}/{report_path(model, stamp, 'json')}",
            "image": f"gs://{bucket}/{report_path(model, stamp, 'png')}",
            "window": summary,
            "thresholds": drift_report.thresholds(min_samples),
            "status": _overall(version_reports),
            "versions": version_reports,
            "alerts": alerts,
            "rollout": rollout,
        }
        png = drift_report_png(
            f"{model}: drift window of {now:%Y-%m-%d %H:%M:%S} UTC",
            _panels(version_reports, values, artifacts),
        )
        write_report(
            self.storage_client.bucket(bucket),
            report_path(model, stamp, "json"),
            report,
            png,
            self.settings.storage_timeout_seconds,
        )
        _log_figures(report)
        return report

    def _rollout(self, model: str, versions: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The rollout under way, if any (docs/rollout.md): each version's report says its
        role, so the candidate and production read side by side. Unreadable: None."""
        registry = self._registry()
        try:
            rollout = read_rollout(registry, model)
            production = registry.alias(model, self.settings.serving_alias)
        except RolloutError:
            return None  # not a rollout: the functions send every request to production
        except Exception as error:
            if not is_backend_failure(error):
                raise
            return None
        roles = {production.version: "production"} if production else {}
        if rollout is not None:
            roles[rollout.version] = "candidate"
        for version in versions:
            version["role"] = roles.get(version["version"])
        if rollout is None:
            return None
        return {**rollout.to_document(), "production_version": production and production.version}

    def _registry(self) -> Registry:
        return registry_of(self.settings, self.storage_client)

    def _artifact(self, model: str, version: int) -> ModelArtifact | None:
        """The version's artifact, or None when it cannot be read (no reference then)."""
        key = (self.settings.bucket, model, version)
        if key in _artifacts:
            return _artifacts[key]
        try:
            artifact: ModelArtifact | None = self._registry().load(model, version)
        except (VersionNotFound, ArtifactError) as error:
            logs.warning(
                f"no reference for {model} version {version}: {error}",
                component=COMPONENT,
                model_version=version,
            )
            artifact = None
        if len(_artifacts) >= _MAX_ARTIFACTS:
            _artifacts.clear()
        _artifacts[key] = artifact
        return artifact

    def _alert(self, report: Mapping[str, Any]) -> None:
        """One message per drifting version and feature; wait until each is confirmed."""
        topic = self.publisher.topic_path(
            self.settings.project_id, self.settings.drift_alerts_topic
        )
        futures = []
        for alert in report["alerts"]:
            data = {"model": report["model"], **alert, "report": report["report"]}
            futures.append(
                self.publisher.publish(
                    topic,
                    orjson.dumps(data),
                    model=report["model"],
                    version=str(alert["version"]),
                    feature=alert["feature"],
                )
            )
            logs.warning(
                f"drift: {report['model']} version {alert['version']} feature "
                f"{alert['feature']} PSI {alert['psi']:.3f}",
                component=COMPONENT,
                model_version=alert["version"],
                alert=data,
            )
        for future in futures:
            future.result(timeout=self.settings.publish_timeout_seconds)


def registry_of(settings: Settings, client: storage.Client) -> Registry:
    """The registry as the monitoring jobs read it: the function's bucket and limits."""
    return Registry(
        client,
        settings.bucket,
        timeout=settings.storage_timeout_seconds,
        max_artifact_bytes=settings.max_artifact_bytes,
    )


def _overall(versions: Sequence[Mapping[str, Any]]) -> str:
    statuses = {version["status"] for version in versions}
    for status in ("drift", "ok", "too_few_samples", "no_reference"):
        if status in statuses:
            return status
    return "no_records"


def _panels(
    version_reports: Sequence[Mapping[str, Any]],
    values_by_version: Mapping[int, np.ndarray],
    artifacts: Mapping[int, ModelArtifact | None],
) -> list[Panel]:
    """Drifting features first, so the figure's first panels are the ones that matter."""
    panels: list[tuple[float, Panel]] = []
    for report in version_reports:
        version = report["version"]
        values = values_by_version[version]
        artifact = artifacts[version]
        for column, feature in enumerate(report["features"]):
            name = feature["feature"]
            if not report["has_reference"] or artifact is None:  # None: for the type checker
                title = f"v{version} · {name} · no reference · n {feature['n']}"
                panel = Panel(title, values[:, column], None, None, False)
                panels.append((-1.0, panel))
                continue
            reference = artifact.reference[name]
            title = (
                f"v{version} · {name} · PSI {feature['psi']:.3f} · "
                f"KS p {feature['ks_pvalue']:.2g} · n {feature['n']}"
            )
            panel = Panel(
                title,
                values[:, column],
                np.asarray(reference["sample"], dtype=np.float64),
                (float(reference["min"]), float(reference["max"])),
                bool(feature["alert"]),
            )
            panels.append((float(feature["psi"]), panel))
    panels.sort(key=lambda item: -item[0])
    return [panel for _, panel in panels]


def _log_figures(report: Mapping[str, Any]) -> None:
    """One line per report with every version's and feature's figures."""
    figures = [
        {
            "version": version["version"],
            "status": version["status"],
            "records": version["records"],
            "instances": version["instances"],
            "features": {
                feature["feature"]: {
                    key: feature[key]
                    for key in ("psi", "ks_statistic", "ks_pvalue", "out_of_range_share", "n")
                    if key in feature
                }
                for feature in version["features"]
            },
            "latency_ms": {
                transport: figures["latency_ms"]
                for transport, figures in version["transports"].items()
                if figures["records"]
            },
        }
        for version in report["versions"]
    ]
    logs.info(
        f"drift report {report['report']}: {report['status']}, {len(report['alerts'])} alerts",
        component=COMPONENT,
        model=report["model"],
        report=report["report"],
        status=report["status"],
        versions=figures,
    )


def rfc3339(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
