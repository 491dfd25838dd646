"""Live quality, end to end (`POST /performance`): read the window's labelled rows, judge
each model version against its test scores, alert, write the report.

The window is the last QUALITY_WINDOW_HOURS of labels, by label time; only the `date=`
partitions it touches are listed. An alert is claimed before it is published (one per
version and metric per QUALITY_ALERT_COOLDOWN_HOURS, model/alert_cooldown.py), and the
retraining it may start (docs/training.md) is uploaded in between; a claim whose upload or
publish fails is given back, so the next run does both instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from google.cloud import pubsub_v1, storage
from google.cloud.storage.retry import DEFAULT_RETRY

from functions.monitoring.drift_job import (
    COMPONENT,
    registry_of,
    rfc3339,
    timestamp,
    write_report,
)
from functions.platform import logs
from functions.platform.config import Settings
from model import alert_cooldown, live_quality
from model.feedback import LABELLED
from model.labelled import labelled_rows, partitions
from model.labelled_retraining import retrain_from_labels, training_data
from model.live_quality import InvalidRow, LabelledRow
from model.quality_plot import quality_report_png
from model.registry import Registry
from model.rollout import RolloutError, read_rollout
from model.rollout_judgement import judge
from model.training_settings import PERFORMANCE_ALERT, read_settings

# A version's test scores never change once its report is written.
_test_scores: dict[tuple[str, str, int], dict[str, float]] = {}


def report_path(model: str, stamp: str, extension: str) -> str:
    return f"monitoring/{model}/performance/{stamp}.{extension}"


def cooldown_path(model: str, version: int, metric: str) -> str:
    """The last alert of a version's metric (model/alert_cooldown.py)."""
    return f"monitoring/{model}/performance/cooldown/{version}-{metric}.json"


@dataclass
class QualityJob:
    settings: Settings
    publisher: pubsub_v1.PublisherClient
    storage_client: storage.Client
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def run(self) -> dict[str, Any]:
        """One report per model with labels in the window; the answer of POST /performance."""
        now = self.clock()
        start = now - timedelta(hours=self.settings.quality_window_hours)
        window = {
            "start": rfc3339(start),
            "end": rfc3339(now),
            "hours": self.settings.quality_window_hours,
        }
        reports = []
        for model in self._models():
            rows, invalid = self._rows(model, start, now)
            if rows:
                reports.append(self._report(model, rows, invalid, window, start, now))
        return {
            "time": rfc3339(now),
            "window": window,
            "status": live_quality.overall([v for r in reports for v in r["versions"]]),
            "reports": reports,
            "message": f"{len(reports)} models with labels in the window",
        }

    def _report(
        self,
        model: str,
        rows: Sequence[LabelledRow],
        invalid: int,
        window: Mapping[str, Any],
        start: datetime,
        now: datetime,
    ) -> dict[str, Any]:
        stamp = timestamp(now)
        bucket = self.settings.bucket
        min_labels = self.settings.quality_min_labels
        versions = [
            live_quality.version_quality(
                version, labels, predictions, self._expected(model, version), min_labels
            )
            for version, (labels, predictions) in live_quality.by_version(rows).items()
        ]
        found = live_quality.alerts(model, versions, window)
        path = report_path(model, stamp, "json")
        published, in_cooldown, retraining = self._alert(model, found, f"gs://{bucket}/{path}", now)
        report = {
            "model": model,
            "time": rfc3339(now),
            "report": f"gs://{bucket}/{path}",
            "image": f"gs://{bucket}/{report_path(model, stamp, 'png')}",
            "window": {
                **window,
                "partitions": partitions(start, now),
                "rows": len(rows),
                "invalid_rows": invalid,
            },
            "settings": {
                "min_labels": min_labels,
                "confidence": live_quality.CONFIDENCE,
                "resamples": live_quality.RESAMPLES,
                "cooldown_hours": self.settings.quality_alert_cooldown_hours,
            },
            "status": live_quality.overall(versions),
            "versions": versions,
            "alerts": published,
            "in_cooldown": in_cooldown,
            "retraining": retraining,
            "rollout": self._rollout(model, rows),
        }
        png = quality_report_png(
            f"{model}: live quality, labels of {window['hours']:g} h", versions
        )
        write_report(
            self.storage_client.bucket(bucket),
            path,
            report,
            png,
            self.settings.storage_timeout_seconds,
        )
        logs.info(
            f"quality report {report['report']}: {report['status']}, {len(published)} alerts",
            component=COMPONENT,
            model=model,
            report=report["report"],
            status=report["status"],
            versions=[
                {"version": v["version"], "n": v["n"], "status": v["status"]} for v in versions
            ],
        )
        return report

    def _alert(
        self, model: str, alerts: Sequence[dict[str, Any]], report: str, now: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
        """Claim each alert, then start the retraining they ask for, then publish them:
        (published, in cooldown, the retraining). A failure gives the claims back, so the
        next run does all of it again (the retraining's upload is made once whatever the
        number of tries)."""
        topic = self.publisher.topic_path(
            self.settings.project_id, self.settings.performance_alerts_topic
        )
        cooldown = timedelta(hours=self.settings.quality_alert_cooldown_hours)
        claimed, held, in_cooldown = [], [], []
        for alert in alerts:
            path = cooldown_path(alert["model"], alert["version"], alert["metric"])
            claim = alert_cooldown.claim(
                self._registry(), path, now, cooldown, {"alert": alert, "report": report}
            )
            if claim is None:
                in_cooldown.append(alert)
            else:
                claimed.append(alert)
                held.append(claim)
        if not claimed:
            return [], in_cooldown, None
        try:
            retraining = self._retrain(model, now, claimed)
            for alert in claimed:
                self.publisher.publish(
                    topic,
                    orjson.dumps(alert),
                    model=alert["model"],
                    version=str(alert["version"]),
                ).result(timeout=self.settings.publish_timeout_seconds)
        except BaseException:
            for claim in held:
                alert_cooldown.release(self._registry(), claim)
            raise
        for alert in claimed:
            logs.warning(
                f"quality: {alert['model']} version {alert['version']}: {alert['reason']}",
                component=COMPONENT,
                model_version=alert["version"],
                alert=alert,
                report=report,
            )
        return claimed, in_cooldown, retraining

    def _retrain(
        self, model: str, now: datetime, published: Sequence[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Alerts published start a retraining on the model's labelled rows when its setting
        takes them (docs/training.md): one upload a run, named by the window's end."""
        registry = self._registry()
        served = registry.alias(model, self.settings.serving_alias)
        if served is None:
            return None
        production = registry.load(model, served.version)
        policy = read_settings(registry, model).retraining
        base = training_data(registry, production) if policy and policy.with_training_data else None
        first = published[0]
        detail = {
            "alert_version": str(first["version"]),
            "alert_metrics": ",".join(str(alert["metric"]) for alert in published),
            "alert_reason": str(first["reason"])[:1000],
        }
        made = retrain_from_labels(
            registry, model, PERFORMANCE_ALERT, now, production.features, base, detail
        )
        return made.as_dict()

    def _rollout(self, model: str, rows: Sequence[LabelledRow]) -> dict[str, Any] | None:
        """During a split, the candidate against production on the window's labelled rows,
        both scored on every row (docs/rollout.md); None when no rollout is under way."""
        registry = self._registry()
        try:
            rollout = read_rollout(registry, model)
        except RolloutError:
            return None  # the serving functions send everything to production then
        served = registry.alias(model, self.settings.serving_alias)
        if rollout is None or served is None:
            return None
        versions = {rollout.version, served.version}
        documents = [row.as_document() for row in rows if row.version in versions]
        candidate = registry.load(model, rollout.version)
        production = registry.load(model, served.version)
        gate = read_settings(registry, model).gate(seed=0)
        judgement = judge(documents, candidate, production, gate)
        return {
            "candidate": rollout.version,
            "percent": rollout.percent,
            "production": served.version,
            **judgement.as_dict(),
        }

    def _models(self) -> list[str]:
        """The models with joined rows: the folders under labelled/."""
        blobs = self.storage_client.list_blobs(
            self.settings.bucket, prefix=LABELLED, delimiter="/", **self._call()
        )
        for _ in blobs.pages:
            pass  # the prefixes fill in as the pages are read
        return sorted(prefix.removeprefix(LABELLED).rstrip("/") for prefix in blobs.prefixes)

    def _rows(self, model: str, start: datetime, end: datetime) -> tuple[list[LabelledRow], int]:
        """The model's rows labelled within [start, end], and how many could not be read."""
        documents, invalid = labelled_rows(
            self.storage_client.bucket(self.settings.bucket),
            model,
            start,
            end,
            timeout=self.settings.storage_timeout_seconds,
        )
        rows: list[LabelledRow] = []
        for document in documents:
            try:
                rows.append(live_quality.row_of(document))
            except InvalidRow as error:
                invalid += 1
                logs.warning(f"unreadable labelled row: {error}", component=COMPONENT)
        return rows, invalid

    def _expected(self, model: str, version: int) -> dict[str, float] | None:
        key = (self.settings.bucket, model, version)
        if key not in _test_scores:
            found = live_quality.expected_scores(self._registry().report_if_any(model, version))
            if found is None:
                return None  # not cached: the report may be written later
            _test_scores[key] = found
        return _test_scores[key]

    def _registry(self) -> Registry:
        return registry_of(self.settings, self.storage_client)

    def _call(self) -> dict[str, Any]:
        timeout = self.settings.storage_timeout_seconds
        return {"timeout": timeout, "retry": DEFAULT_RETRY.with_timeout(timeout)}
