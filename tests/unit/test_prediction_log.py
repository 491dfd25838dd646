"""The prediction log's queue and record format, with a publisher that records its calls.

Pub/Sub itself is exercised in tests/integration/test_prediction_log.py; here the
`publish_factory` seam counts what the thread would send.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from google.api_core import exceptions
from google.pubsub_v1.types import PublishRequest, PubsubMessage

from functions.platform import logs
from functions.serving import prediction_log
from functions.serving.core import Prediction
from functions.serving.prediction_log import PredictionLog, message, rfc3339


class RecordingPublisher:
    """Stands in for the Publish call; fails while `failing` is set."""

    def __init__(self) -> None:
        self.requests: list = []
        self.failing: Exception | None = None
        self.called = threading.Event()

    def __call__(self, request, timeout, metadata) -> None:
        self.called.set()
        if self.failing is not None:
            raise self.failing
        self.requests.append(PublishRequest.pb().FromString(request))  # the log sends bytes

    def messages(self) -> list:
        return [message for request in self.requests for message in request.messages]


@pytest.fixture
def publisher():
    return RecordingPublisher()


def a_log(publisher, sample_rate=1.0, max_instances=1_000) -> PredictionLog:
    return PredictionLog(
        "projects/p/topics/log", lambda: publisher, sample_rate, max_instances, 1.0
    )


def a_prediction(artifact, rows: int, request_id: str = "r-1", transport="http") -> Prediction:
    instances = np.arange(rows, dtype=np.float64).reshape(rows, 1) / 1000
    return Prediction(
        request_id=request_id,
        transport=transport,
        model=artifact,
        instances=instances,
        predictions=artifact.predict(instances),
    )


def wait_for(condition, timeout=10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_the_record_has_the_contract_fields(trained_artifact):
    artifact = trained_artifact.with_version(4)
    prediction = a_prediction(artifact, 3)
    entry = prediction_log.Entry(
        "http",
        "req-1",
        prediction.model,
        prediction.instances,
        prediction.predictions,
        len(prediction.predictions),
        1.23456,
        1_800_000_000.25,
    )
    raw = message(entry)
    record = json.loads(raw.data)
    assert set(record) == {
        "request_id",
        "transport",
        "model",
        "features",
        "instances",
        "predictions",
        "instance_count",
        "latency_ms",
        "time",
    }
    assert record["request_id"] == "req-1"
    assert record["transport"] == "http"
    assert record["model"] == {"name": "diabetes-bmi", "version": 4}
    assert record["features"] == ["bmi"]
    assert record["instances"] == [[0.0], [0.001], [0.002]]
    assert record["predictions"] == prediction.predictions.tolist()
    assert record["instance_count"] == 3
    assert record["latency_ms"] == 1.235
    assert record["time"] == "2027-01-15T08:00:00.250000Z"
    assert dict(raw.attributes) == {"model": "diabetes-bmi", "model_version": "4"}


@pytest.mark.parametrize("rows", [1, 20, 3_000])
@pytest.mark.parametrize("feedback", [False, True])
def test_a_record_is_framed_as_protobuf_frames_it(trained_artifact, rows, feedback):
    """The hand-framed request is byte for byte protobuf's own, whatever the record's length
    (lengths written in two and in three bytes)."""
    prediction = a_prediction(trained_artifact, rows)
    entry = prediction_log.Entry(
        "http",
        "r",
        prediction.model,
        prediction.instances,
        prediction.predictions,
        rows,
        1.0,
        0.0,
        first_index=0 if feedback else None,
        request_instances=rows,
    )
    data = prediction_log.record_json(entry)
    attributes = {"model": "diabetes-bmi", "model_version": str(trained_artifact.version)}
    if feedback:
        attributes["feedback"] = "true"
    built = PublishRequest.pb()(messages=[PubsubMessage.pb()(data=data, attributes=attributes)])
    assert prediction_log.encoded(entry) == built.SerializeToString(deterministic=True)


def test_records_are_published_in_batches(publisher, trained_artifact):
    log = a_log(publisher)
    for index in range(2_500):
        log.record(a_prediction(trained_artifact, 1, f"r{index}", "stream"), 0.5)
    log.stop()
    assert log.published == 2_500
    assert len(publisher.messages()) == 2_500
    assert len(publisher.requests) >= 3  # at most 1,000 a call
    assert all(len(request.messages) <= 1_000 for request in publisher.requests)
    assert {request.topic for request in publisher.requests} == {"projects/p/topics/log"}


def test_a_large_request_logs_a_uniform_sample_with_the_total(publisher, trained_artifact):
    log = a_log(publisher, max_instances=100)
    prediction = a_prediction(trained_artifact, 5_000, "big")
    log.record(prediction, 3.0)
    log.stop()
    (raw,) = publisher.messages()
    record = json.loads(raw.data)
    assert record["instance_count"] == 5_000
    assert len(record["instances"]) == len(record["predictions"]) == 100
    rows = [round(row[0] * 1000) for row in record["instances"]]
    assert rows == sorted(set(rows))  # distinct rows, in request order
    assert rows[-1] - rows[0] > 2_500  # spread over the request, not its head
    expected = trained_artifact.predict(np.array(rows, dtype=np.float64).reshape(-1, 1) / 1000)
    assert np.allclose(record["predictions"], expected)  # each prediction with its instance


def test_the_sample_rate_logs_that_share_of_requests(publisher, trained_artifact):
    log = a_log(publisher, sample_rate=0.25)
    for index in range(4_000):
        log.record(a_prediction(trained_artifact, 1, f"r{index}", "http"), 0.1)
    log.stop()
    assert 800 <= log.published <= 1_200


def test_a_zero_sample_rate_logs_nothing_and_starts_no_thread(publisher, trained_artifact):
    log = a_log(publisher, sample_rate=0.0)
    log.record(a_prediction(trained_artifact, 1, "r", "http"), 0.1)
    log.stop()
    assert log.published == 0
    assert not publisher.called.is_set()


def test_a_failing_topic_drops_and_counts_and_says_so(publisher, trained_artifact, capsys):
    publisher.failing = exceptions.NotFound("Topic not found")
    log = a_log(publisher)
    started = time.perf_counter()
    for index in range(10):
        log.record(a_prediction(trained_artifact, 1, f"r{index}", "http"), 0.1)
    assert time.perf_counter() - started < 0.5  # the request path never waits for Pub/Sub
    wait_for(lambda: log.dropped == 10)
    log.stop()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "dropped" in line]

    logs.flush()
    lines += [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if "dropped" in line
    ]
    (line,) = [line for line in lines if line.get("component") == "prediction_log"]
    assert line["severity"] == "WARNING"
    assert line["dropped"] == 10
    assert "Topic not found" in line["message"]


def test_a_full_queue_drops_instead_of_growing(publisher, trained_artifact, monkeypatch):
    monkeypatch.setattr(prediction_log, "MAX_PENDING", 5)
    entered, release = threading.Event(), threading.Event()

    def slow(request, timeout, metadata):
        entered.set()
        release.wait(10)
        publisher(request, timeout, metadata)

    log = a_log(slow)
    log.record(a_prediction(trained_artifact, 1, "first", "http"), 0.1)
    wait_for(entered.is_set)  # the thread is stuck in its first publish
    for index in range(8):
        log.record(a_prediction(trained_artifact, 1, f"r{index}", "http"), 0.1)
    assert log.dropped == 3
    release.set()
    log.stop()
    assert log.published == 6


def test_rfc3339_is_utc_with_microseconds():
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500000Z"
