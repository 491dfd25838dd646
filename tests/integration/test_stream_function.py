"""`predict_stream` with real CloudEvents, publishing to the Pub/Sub emulator."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from google.api_core import exceptions as api_exceptions

from functions.platform.errors import ModelUnavailable
from functions.serving import stream
from infra.names import MODEL_NAME as MODEL
from tests.clients import function_client
from tests.pubsub_helpers import eventarc_event, message, push_event

pytestmark = pytest.mark.emulators


def decoded(received) -> dict:
    return {"data": json.loads(received.data), "attributes": dict(received.attributes)}


@pytest.mark.parametrize("shape", [push_event, eventarc_event])
def test_a_valid_request_gets_its_predictions(results, production, shape):
    event = shape(message(b'{"instances": [[0.5], [0.2]]}', {"request_id": "r-1"}))
    stream.handle(event)
    (result,) = map(decoded, results())
    assert result["attributes"] == {
        "request_id": "r-1",
        "status": "ok",
        "model": MODEL,
        "model_version": "1",
    }
    assert result["data"]["request_id"] == "r-1"
    assert result["data"]["status"] == "ok"
    assert result["data"]["model"] == {"name": MODEL, "version": 1}
    assert result["data"]["predictions"] == pytest.approx(
        production.predict(np.array([[0.5], [0.2]])).tolist()
    )


def test_request_id_defaults_to_the_message_id(results, production):
    stream.handle(push_event(message(b'{"instances": [0.5]}', message_id="m-42")))
    (result,) = map(decoded, results())
    assert result["attributes"]["request_id"] == "m-42"


@pytest.mark.parametrize(
    ("body", "attributes", "message_part"),
    [
        (b"not json", {}, "malformed JSON"),
        (b"", {}, "the body is empty"),
        (b"\x1f\x8b not gzip", {"content_encoding": "gzip"}, "not valid gzip"),
        (b'{"instances": [[NaN]]}', {}, "malformed JSON"),
        (b'{"instances": [[0.5, 1]]}', {}, "instances[0]: expected 1"),
        (b'{"instances": [[0.5]]}', {"version": "7"}, "no version 7"),
        (b'{"instances": [[0.5]]}', {"alias": "canary"}, "no alias 'canary'"),
        (b'{"instances": [[0.5]]}', {"version": "x"}, "whole number"),
        (b'{"instances": [[0.5]]}', {"model": "unknown-model"}, "no version in the registry"),
        (b'{"instances": [[0.5]]}', {"model": "../x"}, "model '../x': use letters"),
    ],
)
def test_an_invalid_request_gets_an_error_result_and_is_acknowledged(
    results, production, body, attributes, message_part
):
    event = push_event(message(body, {"request_id": "bad", **attributes}))
    stream.handle(event)  # returns: acknowledged, never retried
    (result,) = map(decoded, results())
    assert result["attributes"]["status"] == "error"
    assert result["attributes"]["model_version"] == ""
    assert result["attributes"]["model"] == result["data"]["model"]["name"]
    assert result["data"]["model"] == {"name": attributes.get("model", MODEL), "version": None}
    assert result["data"]["status"] == "error"
    assert result["data"]["error"]["code"] in (400, 404)
    assert message_part in result["data"]["error"]["message"]


def test_csv_data_by_attribute(results, production):
    stream.handle(push_event(message(b"bmi\n0.5\n", {"content_type": "text/csv"})))
    (result,) = map(decoded, results())
    assert result["data"]["predictions"] == pytest.approx(
        production.predict(np.array([[0.5]])).tolist()
    )


def test_no_model_fails_the_invocation_so_pubsub_redelivers(results, serving_env):
    with pytest.raises(ModelUnavailable):
        stream.handle(push_event(message(b'{"instances": [[0.5]]}')))
    assert results(timeout=1) == []  # nothing published for a request that will come back


def test_an_unpublishable_result_fails_the_invocation(production, serving_env, monkeypatch):
    monkeypatch.setenv("RESULTS_TOPIC", f"missing-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("PUBLISH_TIMEOUT_SECONDS", "5")
    with pytest.raises(api_exceptions.NotFound):
        stream.handle(push_event(message(b'{"instances": [[0.5]]}')))


def test_a_redelivery_yields_an_identical_result(results, production):
    event = push_event(message(b'{"instances": [[0.1], [0.3]]}', {"request_id": "again"}))
    stream.handle(event)
    stream.handle(event)
    first, second = results(count=2)
    assert first.data == second.data
    assert dict(first.attributes) == dict(second.attributes)


def test_push_and_eventarc_http_requests_through_the_framework(
    results, production, repository_root
):
    client = function_client("predict_stream")
    raw = message(b'{"instances": [[0.5]]}', {"request_id": "raw-push"})
    push = client.post(
        "/projects/local-ml/topics/prediction-requests",
        json={
            "message": raw,
            "subscription": "projects/local-ml/subscriptions/prediction-requests-push",
        },
    )
    assert push.status_code == 200
    binary = message(b'{"instances": [[0.5]]}', {"request_id": "eventarc"})
    eventarc = client.post(
        "/",
        json={"message": binary, "subscription": "projects/local-ml/subscriptions/trigger"},
        headers={
            "ce-id": binary["messageId"],
            "ce-specversion": "1.0",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-source": "//pubsub.googleapis.com/projects/local-ml/topics/prediction-requests",
        },
    )
    assert eventarc.status_code == 200
    by_id = {m.attributes["request_id"]: json.loads(m.data) for m in results(count=2)}
    assert by_id["raw-push"]["predictions"] == by_id["eventarc"]["predictions"]
    assert by_id["raw-push"]["status"] == "ok"


def test_data_that_is_not_base64_gets_an_error_result(results, production):
    msg = {**message(b""), "data": "not base64!"}
    stream.handle(push_event(msg))
    (result,) = map(decoded, results())
    assert result["data"]["error"]["code"] == 400
    assert "not base64" in result["data"]["error"]["message"]


def test_a_push_with_empty_data_gets_an_error_result(results, production, repository_root):
    """The emulator pushes a message published with attributes only as `"data": ""`."""
    client = function_client("predict_stream")
    raw = {**message(b"", {"request_id": "empty"}), "data": ""}
    push = client.post(
        "/projects/local-ml/topics/prediction-requests",
        json={"message": raw, "subscription": "projects/local-ml/subscriptions/push"},
    )
    assert push.status_code == 200  # acknowledged: never redelivered, never dead-lettered
    (result,) = map(decoded, results())
    assert result["attributes"] == {
        "request_id": "empty",
        "status": "error",
        "model": MODEL,
        "model_version": "",
    }
    assert result["data"]["error"]["message"].startswith("the body is empty")


def test_a_push_without_a_data_field_is_refused_by_the_framework(
    results, production, repository_root
):
    """functions-framework 3.x converts a push into a CloudEvent only when its message has a
    `data` field; without one it answers 400 itself, before predict_stream runs, so Pub/Sub
    redelivers and then dead-letters the message. Documented in docs/stream.md."""
    client = function_client("predict_stream")
    raw = message(b"", {"request_id": "no-data-field"})
    del raw["data"]
    push = client.post(
        "/projects/local-ml/topics/prediction-requests",
        json={"message": raw, "subscription": "projects/local-ml/subscriptions/push"},
    )
    assert push.status_code == 400
    assert "neither a CloudEvent nor a Pub/Sub push" in push.json()["error"]["message"]
    assert results(timeout=1) == []  # our code never ran: no result
