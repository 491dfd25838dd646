"""The prediction log through the Pub/Sub emulator: both functions, in this process."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from functions.platform import logs, runtime
from functions.serving import stream
from infra import names
from tests.clients import function_client
from tests.integration.test_stream_function import message, push_event
from tests.pubsub_helpers import pull, temporary_topic

pytestmark = pytest.mark.emulators
MODEL = names.MODEL_NAME
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def production(registry, trained_artifact, serving_env):
    registry.register(trained_artifact, {})
    registry.promote(MODEL, 1)
    return trained_artifact.with_version(1)


@pytest.fixture
def prediction_log(local_cloud, serving_env, monkeypatch):
    """A prediction-log topic of this test's own; a function reading what reached it."""
    with (
        temporary_topic(local_cloud, "log") as topic,
        temporary_topic(local_cloud, "results") as results,
        local_cloud.pubsub_clients() as (_, subscriber),
    ):
        monkeypatch.setenv("PREDICTION_LOG_TOPIC", topic.name)
        monkeypatch.setenv("RESULTS_TOPIC", results.name)
        runtime.reset()

        def read(count: int, timeout: float = 20.0) -> list[dict]:
            received = pull(subscriber, topic.subscription, count, timeout)
            return [
                {"data": json.loads(m.data), "attributes": dict(m.attributes)} for m in received
            ]

        yield read


@pytest.fixture
def client():
    return function_client("predict_batch")


def test_an_http_request_is_logged_in_the_contract_format(client, production, prediction_log):
    response = client.post(
        "/predict", json={"instances": [[0.05], [-0.02]]}, headers={"X-Request-Id": "req-1"}
    )
    assert response.status_code == 200
    (record,) = prediction_log(1)
    data = record["data"]
    assert record["attributes"] == {"model": MODEL, "model_version": "1"}
    assert data["request_id"] == "req-1"
    assert data["transport"] == "http"
    assert data["model"] == {"name": MODEL, "version": 1}
    assert data["features"] == ["bmi"]
    assert data["instances"] == [[0.05], [-0.02]]
    assert data["predictions"] == response.json()["predictions"]
    assert data["instance_count"] == 2
    assert data["latency_ms"] > 0
    assert data["time"].endswith("Z")


def test_every_prediction_route_is_logged_and_failures_are_not(client, production, prediction_log):
    assert client.get("/batch/[0.1,0.2]").status_code == 200
    assert client.get("/stream/0.3").status_code == 200
    csv = client.post("/predict", content="bmi\n0.4\n", headers={"Content-Type": "text/csv"})
    assert csv.status_code == 200
    assert client.post("/predict", json={"instances": [[True]]}).status_code == 400
    assert client.get("/model").status_code == 200  # not a prediction
    assert client.request("GET", "/predict?version=9", json={}).status_code == 405
    runtime.reset()  # publishes what is queued: a short pull then sees every record sent
    records = prediction_log(4, timeout=3)
    assert sorted(r["data"]["instances"][0][0] for r in records) == [0.1, 0.3, 0.4]


def test_a_stream_request_is_logged_once_its_result_is_out(production, prediction_log):
    body = json.dumps({"instances": [[0.01], [0.02], [0.03]]}).encode()
    stream.handle(push_event(message(body, {"request_id": "stream-1"})))
    stream.handle(push_event(message(b'{"instances": [["x"]]}', {"request_id": "bad"})))
    runtime.reset()  # publishes what is queued: a short pull then sees every record sent
    records = prediction_log(2, timeout=3)
    (record,) = records  # the invalid request got its error result, and no log record
    assert record["data"]["transport"] == "stream"
    assert record["data"]["request_id"] == "stream-1"
    assert record["data"]["instance_count"] == 3


def test_a_large_request_logs_a_sample_and_the_total(
    client, production, prediction_log, monkeypatch
):
    monkeypatch.setenv("PREDICTION_LOG_MAX_INSTANCES", "50")
    runtime.reset()
    instances = np.linspace(-0.1, 0.1, 2_000).reshape(-1, 1).tolist()
    assert client.post("/predict", json={"instances": instances}).status_code == 200
    (record,) = prediction_log(1)
    assert record["data"]["instance_count"] == 2_000
    assert len(record["data"]["instances"]) == len(record["data"]["predictions"]) == 50


def test_an_unavailable_topic_drops_records_and_predictions_go_on(
    client, production, serving_env, monkeypatch, capsys
):
    monkeypatch.setenv("PREDICTION_LOG_TOPIC", f"deleted-{uuid.uuid4().hex[:8]}")
    runtime.reset()
    for _ in range(5):
        assert client.post("/predict", json={"instances": [[0.05]]}).status_code == 200
    log = runtime.prediction_log()
    runtime.reset()  # stops the log: what it could not publish is counted and reported
    assert (log.published, log.dropped) == (0, 5)
    logs.flush()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "{" in line]
    # The first drop is reported at once, the rest at the stop: one line or two, as the
    # requests fell around the log's flushes.
    reports = [line for line in lines if line.get("component") == "prediction_log"]
    assert 1 <= len(reports) <= 2
    assert sum(report["dropped"] for report in reports) == 5
    assert all("NotFound" in report["message"] for report in reports)


def test_request_lines_carry_the_trace(client, production, prediction_log, capsys):
    headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01", "X-Request-Id": "traced"}
    assert client.get("/stream/0.3", headers=headers).status_code == 200
    logs.flush()
    (line,) = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"traced"' in line
    ]
    assert line["logging.googleapis.com/trace"] == f"projects/local-ml/traces/{TRACE_ID}"
    assert line["component"] == "predict_batch"
    assert line["model_version"] == 1
    for field in ("severity", "message", "latency_ms", "request_id"):
        assert field in line
