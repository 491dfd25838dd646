"""Monitoring end to end: predict_batch, predict_stream and monitor_drift as processes.

Traffic goes over HTTP and through the emulator's push subscription; the functions log it
to a prediction-log topic of the test's own; monitor_drift answers a window's report,
writes it to the bucket and alerts on a topic of the test's own.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from infra import names
from infra.local.cloud import LocalCloud
from model.dataset import load_diabetes
from tests.e2e.functions import FunctionProcess
from tests.e2e.test_stream_process import StreamRig, stream_rig
from tests.pubsub_helpers import Topic, pull, temporary_topic

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]
MODEL = names.MODEL_NAME
TRAINING_BMI = load_diabetes().X[:-20, 0]
BMI_STD = float(TRAINING_BMI.std())


@dataclass
class MonitoringRig:
    cloud: LocalCloud
    bucket: str
    batch: FunctionProcess
    stream: StreamRig
    monitor: FunctionProcess
    log: Topic  # the drift job reads its subscription; `observer` below proves publication
    observer: Topic
    alerts: Topic

    def http(self, instances: list[list[float]]) -> dict:
        request = urllib.request.Request(
            f"{self.batch.url}/predict",
            data=json.dumps({"instances": instances}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            return json.loads(response.read())

    def published(self, count: int, timeout: float = 60.0) -> None:
        """Wait until `count` records reached the log topic (seen on a second subscription)."""
        with self.cloud.pubsub_clients() as (_, subscriber):
            seen = pull(subscriber, self.observer.subscription, count, timeout)
        assert len(seen) == count, f"{len(seen)} of {count} records published"

    def run_window(self) -> dict:
        request = urllib.request.Request(f"{self.monitor.url}/", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200
            return json.loads(response.read())

    def alerts_received(self, count: int, timeout: float) -> list[dict]:
        with self.cloud.pubsub_clients() as (_, subscriber):
            received = pull(subscriber, self.alerts.subscription, count, timeout)
        return [{"data": json.loads(m.data), "attributes": dict(m.attributes)} for m in received]


def observe(cloud: LocalCloud, topic: Topic, stack: ExitStack) -> Topic:
    """A second subscription on `topic`: what it receives, the drift subscription has too."""
    name = f"{topic.name}-observer"
    path = f"projects/{cloud.config.project_id}/subscriptions/{name}"
    with cloud.pubsub_clients() as (_, subscriber):
        subscriber.create_subscription(name=path, topic=topic.path)

    def delete() -> None:
        with cloud.pubsub_clients() as (_, subscriber):
            subscriber.delete_subscription(subscription=path)

    stack.callback(delete)
    return Topic(name, topic.path, path)


@pytest.fixture
def rig(local_cloud, registry, bucket, trained_artifact) -> Iterator[MonitoringRig]:
    registry.register(trained_artifact, {})
    registry.promote(MODEL, 1)
    with ExitStack() as stack:
        log = stack.enter_context(temporary_topic(local_cloud, "log"))
        alerts = stack.enter_context(temporary_topic(local_cloud, "alerts"))
        observer = observe(local_cloud, log, stack)
        env = {
            "MODEL_BUCKET": bucket,
            "PREDICTION_LOG_TOPIC": log.name,
            "DRIFT_SUBSCRIPTION": log.subscription.rsplit("/", 1)[1],
            "DRIFT_ALERTS_TOPIC": alerts.name,
        }
        manager = LocalCloud(local_cloud.config)
        stack.callback(manager.stop)
        batch = FunctionProcess(manager, "predict_batch", "http", env).start()
        monitor = FunctionProcess(manager, "monitor_drift", "http", env).start()
        stream = stream_rig(local_cloud, stack, env)
        yield MonitoringRig(local_cloud, bucket, batch, stream, monitor, log, observer, alerts)


def traffic(rig: MonitoringRig, requests: int, rows: int, shift: float = 0.0) -> None:
    """`requests` requests over HTTP and as many through the stream, values from training."""
    rng = np.random.default_rng(requests)
    for _ in range(requests):
        rig.http((rng.choice(TRAINING_BMI, (rows, 1)) + shift).tolist())
    bodies = {
        f"s-{index}": json.dumps(
            {"instances": (rng.choice(TRAINING_BMI, (rows, 1)) + shift).tolist()}
        ).encode()
        for index in range(requests)
    }
    rig.stream.publish(bodies)
    assert len(rig.stream.results(requests, timeout=120)) == requests
    rig.published(2 * requests)


def test_in_distribution_traffic_reports_both_transports_and_no_alert(rig, gcs):
    traffic(rig, 60, 5)
    report = rig.run_window()

    assert report["status"] == "ok"
    (version,) = report["versions"]
    assert version["version"] == 1
    assert version["records"] == 120
    for transport in ("http", "stream"):
        figures = version["transports"][transport]
        assert (figures["records"], figures["instances"]) == (60, 300)
        latency = figures["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    (bmi,) = version["features"]
    assert (bmi["feature"], bmi["n"]) == ("bmi", 600)
    assert bmi["psi"] < 0.1
    assert bmi["alert"] is False
    assert report["alerts"] == []
    assert rig.alerts_received(1, timeout=3) == []

    # The report is in the bucket, its PNG an image.
    bucket = gcs.bucket(rig.bucket)
    path = report["report"].removeprefix(f"gs://{rig.bucket}/")
    assert path.startswith(f"monitoring/{MODEL}/drift/")
    assert json.loads(bucket.blob(path).download_as_bytes()) == report
    png = bucket.blob(path.removesuffix(".json") + ".png").download_as_bytes()
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
        assert image.format == "PNG"


def test_inputs_shifted_by_two_standard_deviations_alert(rig):
    traffic(rig, 30, 5, shift=2 * BMI_STD)
    report = rig.run_window()
    assert report["status"] == "drift"
    (alert,) = rig.alerts_received(1, timeout=30)
    assert alert["attributes"] == {"model": MODEL, "version": "1", "feature": "bmi"}
    assert (alert["data"]["feature"], alert["data"]["version"]) == ("bmi", 1)
    assert alert["data"]["psi"] >= 0.2
    assert alert["data"]["n"] == 300
    assert alert["data"]["report"] == report["report"]


def test_too_few_records_say_so_and_do_not_alert(rig):
    traffic(rig, 10, 2, shift=2 * BMI_STD)
    report = rig.run_window()
    (version,) = report["versions"]
    assert version["status"] == "too_few_samples"
    assert "40 values" in version["message"]
    assert report["alerts"] == []
    assert rig.alerts_received(1, timeout=3) == []


def test_an_unavailable_prediction_log_never_fails_a_prediction(
    local_cloud, registry, bucket, trained_artifact
):
    registry.register(trained_artifact, {})
    registry.promote(MODEL, 1)
    manager = LocalCloud(local_cloud.config)
    try:
        batch = FunctionProcess(
            manager,
            "predict_batch",
            "http",
            {"MODEL_BUCKET": bucket, "PREDICTION_LOG_TOPIC": "no-such-topic-anywhere"},
        ).start()
        for _ in range(20):
            request = urllib.request.Request(
                f"{batch.url}/predict",
                data=b'{"instances": [[0.05]]}',
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
                assert len(json.loads(response.read())["predictions"]) == 1
        log_path = manager.children()[0].log_path
        deadline = time.monotonic() + 30
        dropped = []
        while not dropped and time.monotonic() < deadline:
            lines = log_path.read_text().splitlines()
            dropped = [json.loads(line) for line in lines if '"component":"prediction_log"' in line]
            time.sleep(0.2)
        assert dropped, "no line reports the dropped records"
        assert dropped[0]["dropped"] >= 1
        assert "NotFound" in dropped[0]["message"]
    finally:
        manager.stop()
