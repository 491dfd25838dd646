"""Every function's request or event line carries the trace of the request that brought it."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from functions.platform import logs
from tests.clients import function_client

pytestmark = pytest.mark.emulators
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE = f"projects/local-ml/traces/{TRACE_ID}"


def push_body(data: bytes, attributes: dict[str, str]) -> dict:
    """The body a Pub/Sub push subscription posts."""
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": attributes,
            "messageId": uuid.uuid4().hex,
            "publishTime": "2026-11-29T00:00:00.000Z",
        },
        "subscription": "projects/local-ml/subscriptions/push",
    }


def lines_with(capsys, needle: str) -> list[dict]:
    logs.flush()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if needle in line]


@pytest.mark.parametrize(
    "header",
    [
        {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        {"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"},
    ],
)
def test_a_stream_push_line_carries_its_trace(serving_env, capsys, header):
    request_id = f"traced-{uuid.uuid4().hex[:8]}"
    client = function_client("predict_stream")
    # No model is promoted in this bucket: a 503, a failed invocation, and its log line.
    body = push_body(b'{"instances": [[0.1]]}', {"request_id": request_id})
    assert client.post("/", json=body, headers=header).status_code >= 500
    (line,) = [line for line in lines_with(capsys, request_id) if "latency_ms" in line]
    assert line["logging.googleapis.com/trace"] == TRACE
    assert line["component"] == "predict_stream"
    assert line["severity"] == "ERROR"


def test_a_retrain_event_line_carries_its_trace(serving_env, capsys):
    name = f"elsewhere/{uuid.uuid4().hex[:8]}.csv"
    body = push_body(
        b"",
        {
            "eventType": "OBJECT_FINALIZE",
            "bucketId": serving_env,
            "objectId": name,
            "objectGeneration": "1",
        },
    )
    client = function_client("retrain")
    headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    assert client.post("/", json=body, headers=headers).status_code == 200
    (line,) = lines_with(capsys, name)
    assert line["logging.googleapis.com/trace"] == TRACE
    assert line["component"] == "retrain"
    assert "ignored" in line["message"]


def test_a_drift_window_line_carries_its_trace(serving_env, capsys, monkeypatch):
    monkeypatch.setenv("DRIFT_SUBSCRIPTION", f"missing-{uuid.uuid4().hex[:8]}")
    client = function_client("monitor_drift")
    headers = {"X-Cloud-Trace-Context": f"{TRACE_ID}/7", "X-Request-Id": "drift-traced"}
    response = client.post("/", headers=headers)
    assert response.status_code == 503  # the subscription does not exist: a backend failure
    assert response.json()["error"]["status"] == "UNAVAILABLE"
    (line,) = [line for line in lines_with(capsys, "drift-traced") if "latency_ms" in line]
    assert line["logging.googleapis.com/trace"] == TRACE
    assert line["logging.googleapis.com/spanId"] == f"{7:016x}"
    assert line["component"] == "monitor_drift"


def test_an_unhandled_error_is_logged_with_its_traceback(serving_env, capsys, monkeypatch):
    from functions.serving import http as http_function

    def broken(exchange):
        raise RuntimeError("a bug")

    monkeypatch.setattr(http_function, "route_of", broken)
    client = function_client("predict_batch")
    response = client.get("/health", headers={"X-Request-Id": "with-traceback"})
    assert response.status_code == 500
    assert "Traceback" not in response.text
    lines = lines_with(capsys, "with-traceback")
    (error,) = [line for line in lines if "stack_trace" in line]
    assert error["severity"] == "ERROR"
    assert "Traceback (most recent call last)" in error["stack_trace"]
    assert 'raise RuntimeError("a bug")' in error["stack_trace"]


@pytest.mark.parametrize(
    "header",
    [
        {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        {"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"},
    ],
)
def test_a_predict_batch_line_carries_its_trace(serving_env, capsys, header):
    client = function_client("predict_batch")
    assert client.get("/health", headers={**header, "X-Request-Id": "batch-traced"}).is_success
    (line,) = lines_with(capsys, "batch-traced")
    assert line["logging.googleapis.com/trace"] == TRACE
