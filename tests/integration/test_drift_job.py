"""The drift job in this process against the emulators: windows, reports, alerts, acks."""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from google.api_core import exceptions as api_exceptions
from PIL import Image

from functions.monitoring import drift_job
from functions.monitoring.drift_job import DriftJob
from functions.platform import logs, runtime
from functions.platform.config import Settings
from functions.serving.prediction_log import Entry, message
from mlctl.monitoring import table
from model.dataset import load_diabetes
from model.registry import Registry
from model.rollout import start_rollout
from model.training import Protocol
from tests.clients import function_client
from tests.pubsub_helpers import pull, temporary_topic

pytestmark = pytest.mark.emulators
MODEL = "diabetes-bmi"
ALERT_POLICY = (
    Path(__file__).resolve().parents[2] / "docs" / "monitoring" / "drift-alert-policy.json"
)
OLD_ARTIFACT = Path(__file__).resolve().parents[1] / "data" / "model-without-drift-bins.json"
TRAINING_BMI = Protocol().split(load_diabetes(), seed=0).train.X[:, 0]  # the first model's
BMI_STD = float(TRAINING_BMI.std())


@pytest.fixture
def topics(local_cloud, serving_env, monkeypatch):
    """This test's prediction log and drift alerts; the job reads and writes only those."""
    with (
        temporary_topic(local_cloud, "log") as log,
        temporary_topic(local_cloud, "alerts") as alerts,
    ):
        monkeypatch.setenv("PREDICTION_LOG_TOPIC", log.name)
        monkeypatch.setenv("DRIFT_SUBSCRIPTION", log.subscription.rsplit("/", 1)[1])
        monkeypatch.setenv("DRIFT_ALERTS_TOPIC", alerts.name)
        runtime.reset()
        yield log, alerts


@pytest.fixture
def production(registry, trained_artifact, serving_env):
    registry.register(trained_artifact, {})
    registry.promote(MODEL, 1)
    return trained_artifact.with_version(1)


def publish_records(local_cloud, topic, artifact, rows_per_record, transports, shift=0.0, seed=0):
    """Records as the serving functions publish them, values drawn from the training data."""
    rng = np.random.default_rng(seed)
    with local_cloud.pubsub_clients() as (publisher, _):
        futures = []
        for index, transport in enumerate(transports):
            X = rng.choice(TRAINING_BMI, rows_per_record).reshape(-1, 1) + shift
            entry = Entry(
                transport,
                f"r{index}",
                artifact,
                X,
                artifact.predict(X),
                len(X),
                1.0 + index % 7,
                time.time(),
            )
            raw = message(entry)
            futures.append(publisher.publish(topic.path, raw.data, **dict(raw.attributes)))
        for future in futures:
            future.result(timeout=30)


def job(gcs, **overrides) -> DriftJob:
    settings = replace(runtime.settings(), **overrides) if overrides else runtime.settings()
    return DriftJob(settings, runtime.subscriber(), runtime.publisher(), gcs)


def read_alerts(local_cloud, alerts, count, timeout):
    with local_cloud.pubsub_clients() as (_, subscriber):
        received = pull(subscriber, alerts.subscription, count, timeout)
    return [{"data": json.loads(m.data), "attributes": dict(m.attributes)} for m in received]


def test_in_distribution_traffic_reports_both_transports_and_no_alert(
    local_cloud, gcs, bucket, topics, production
):
    log, alerts = topics
    publish_records(local_cloud, log, production, 4, ["http"] * 120 + ["stream"] * 80)
    report = job(gcs).run()

    assert report["status"] == "ok"
    assert report["window"]["records"] == 200
    (version,) = report["versions"]
    assert version["version"] == 1
    assert version["instances"] == 800
    (bmi,) = version["features"]
    assert bmi["feature"] == "bmi"
    assert bmi["psi"] < 0.1
    assert bmi["ks_pvalue"] > 0.05
    assert bmi["out_of_range_share"] == 0.0
    assert bmi["reference"]["mean"] == pytest.approx(TRAINING_BMI.mean())
    assert bmi["serving"]["mean"] == pytest.approx(TRAINING_BMI.mean(), abs=0.005)
    assert version["transports"]["http"]["records"] == 120
    assert version["transports"]["stream"]["records"] == 80
    assert set(version["transports"]["http"]["latency_ms"]) == {"p50", "p95", "p99"}
    assert version["predictions"]["count"] == 800
    assert report["alerts"] == []
    assert read_alerts(local_cloud, alerts, 1, timeout=2) == []

    stored = json.loads(gcs.bucket(bucket).blob(report_object(report)).download_as_bytes())
    assert stored == report
    image = gcs.bucket(bucket).blob(report_object(report, "png")).download_as_bytes()
    with Image.open(io.BytesIO(image)) as png:
        assert png.format == "PNG"
        assert png.size[0] > 300

    again = job(gcs).run()  # every record was acknowledged: the next window is empty
    assert again["window"]["records"] == 0
    assert again["report"] is None


def report_object(report: dict, extension: str = "json") -> str:
    return report["report"].split("/", 3)[3].removesuffix(".json") + f".{extension}"


def test_a_shift_of_two_standard_deviations_alerts(
    local_cloud, gcs, bucket, topics, production, capsys
):
    log, alerts = topics
    publish_records(local_cloud, log, production, 5, ["http"] * 60, shift=2 * BMI_STD)
    report = job(gcs).run()
    logs.flush()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    assert_the_alert_policy_matches(lines, report)
    assert report["status"] == "drift"
    (alert,) = read_alerts(local_cloud, alerts, 1, timeout=20)
    assert alert["attributes"] == {"model": MODEL, "version": "1", "feature": "bmi"}
    data = alert["data"]
    assert set(data) == {
        "model",
        "version",
        "feature",
        "psi",
        "ks_statistic",
        "ks_pvalue",
        "n",
        "report",
    }
    assert (data["model"], data["version"], data["feature"], data["n"]) == (MODEL, 1, "bmi", 300)
    assert data["psi"] >= 0.2
    assert data["ks_pvalue"] < 0.001
    assert data["report"] == report["report"]
    assert data["report"].startswith(f"gs://{bucket}/monitoring/{MODEL}/drift/")


def assert_the_alert_policy_matches(lines: list[dict], report: dict) -> None:
    """The log-based alert policy of docs/monitoring.md selects this run's alert line, only it."""
    policy = json.loads(ALERT_POLICY.read_text())
    (condition,) = policy["conditions"]
    log_filter = condition["conditionMatchedLog"]["filter"]
    assert log_filter == (
        'severity="WARNING" AND jsonPayload.component="monitor_drift" '
        "AND jsonPayload.alert.feature:*"
    )
    matching = [
        line
        for line in lines
        if line.get("severity") == "WARNING"
        and line.get("component") == "monitor_drift"
        and "feature" in line.get("alert", {})
    ]
    (line,) = matching
    assert line["alert"]["report"] == report["report"]
    extractors = condition["conditionMatchedLog"]["labelExtractors"]
    for label, extractor in extractors.items():
        assert extractor == f"EXTRACT(jsonPayload.alert.{label})"
        assert label in line["alert"]
    assert policy["alertStrategy"]["notificationRateLimit"]["period"] == "3600s"


def test_too_few_records_say_so_and_never_alert(local_cloud, gcs, topics, production):
    log, alerts = topics
    publish_records(local_cloud, log, production, 1, ["http"] * 30, shift=2 * BMI_STD)
    report = job(gcs).run()
    (version,) = report["versions"]
    assert version["status"] == "too_few_samples"
    assert "30 values" in version["message"]
    assert "fewer than the 100" in version["message"]
    assert version["features"][0]["psi"] >= 0.2  # shown, yet not alerted on
    assert report["alerts"] == []
    assert read_alerts(local_cloud, alerts, 1, timeout=2) == []


def test_a_version_registered_before_has_no_reference(local_cloud, gcs, bucket, topics):
    gcs.bucket(bucket).blob(f"models/{MODEL}/versions/1/model.json").upload_from_string(
        OLD_ARTIFACT.read_bytes()
    )
    old = Registry(gcs, bucket).load(MODEL, 1)
    publish_records(local_cloud, topics[0], old, 5, ["stream"] * 40, shift=2 * BMI_STD)
    report = job(gcs).run()
    (version,) = report["versions"]
    assert version["status"] == "no_reference"
    assert "no drift reference" in version["message"]
    assert version["features"][0]["serving"]["mean"] > TRAINING_BMI.mean()
    assert version["transports"]["stream"]["records"] == 40
    assert report["alerts"] == []


def test_a_failed_report_acknowledges_nothing(local_cloud, gcs, topics, production):
    publish_records(local_cloud, topics[0], production, 2, ["http"] * 50)
    missing_bucket = f"missing-{uuid.uuid4().hex[:8]}"
    failing = replace(job(gcs), reports_bucket=missing_bucket)
    with pytest.raises(api_exceptions.NotFound):
        failing.run()
    report = job(gcs).run()  # handed back at once: the next window has every record
    assert report["window"]["records"] == 50


def test_unreadable_records_are_counted_and_acknowledged(local_cloud, gcs, topics, production):
    log, _ = topics
    with local_cloud.pubsub_clients() as (publisher, _):
        publisher.publish(log.path, b"not json").result(timeout=30)
        publisher.publish(log.path, b'{"model": {}}').result(timeout=30)
    publish_records(local_cloud, log, production, 1, ["http"] * 3)
    report = job(gcs).run()
    assert report["window"]["records"] == 5
    assert report["window"]["invalid_records"] == 2
    assert report["versions"][0]["records"] == 3
    assert job(gcs).run()["window"]["records"] == 0


def test_the_http_function(local_cloud, gcs, topics, production):
    client = function_client("monitor_drift")
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/").status_code == 405
    assert client.post("/nowhere").status_code == 404
    publish_records(local_cloud, topics[0], production, 2, ["http"] * 10)
    response = client.post("/")
    assert response.status_code == 200
    assert response.json()["window"]["records"] == 10


def test_report_names_sort_by_time():
    from datetime import UTC, datetime

    stamp = drift_job.timestamp(datetime(2026, 11, 29, 10, 5, 7, 123456, tzinfo=UTC))
    assert stamp == "20261129T100507.123Z"
    assert drift_job.report_path(MODEL, stamp, "png") == (
        f"monitoring/{MODEL}/drift/20261129T100507.123Z.png"
    )
    assert Settings().drift_window == 10_000


def test_during_a_rollout_production_and_candidate_read_side_by_side(
    local_cloud, gcs, registry, topics, production, trained_artifact
):
    candidate = registry.register(replace(trained_artifact, lineage={**production.lineage, "n": 2}))
    start_rollout(registry, MODEL, candidate.version, 20.0)
    log, _ = topics
    publish_records(local_cloud, log, production, 4, ["http"] * 40)
    publish_records(local_cloud, log, candidate, 4, ["http"] * 10, seed=1)
    report = job(gcs).run()
    assert report["rollout"]["version"] == candidate.version
    assert report["rollout"]["percent"] == 20.0
    assert report["rollout"]["production_version"] == production.version
    roles = {version["version"]: version["role"] for version in report["versions"]}
    assert roles == {production.version: "production", candidate.version: "candidate"}
    shown = table(report)
    assert f"rollout: version {candidate.version} takes 20% of unpinned requests" in shown
    assert f"version {candidate.version} (candidate):" in shown
