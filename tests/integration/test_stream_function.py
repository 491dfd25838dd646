"""`predict_stream` with real CloudEvents, publishing to the Pub/Sub emulator."""

from __future__ import annotations

import base64
import json
import uuid

import numpy as np
import pytest
from cloudevents.http import CloudEvent
from functions_framework import create_app
from google.api_core import exceptions as api_exceptions

import main
from functions.errors import ModelUnavailable
from tests.pubsub_helpers import pull, temporary_topic

pytestmark = pytest.mark.emulators
MODEL = "diabetes-bmi"


@pytest.fixture
def results(local_cloud, serving_env, monkeypatch):
    """A results topic of this test's own, and a subscriber to read it."""
    with temporary_topic(local_cloud, "results") as topic, local_cloud.pubsub_clients() as (_, sub):
        monkeypatch.setenv("RESULTS_TOPIC", topic.name)
        yield lambda count=1, timeout=20.0: pull(sub, topic.subscription, count, timeout)


@pytest.fixture
def production(registry, trained_artifact, serving_env):
    registry.register(trained_artifact, {})
    registry.promote(MODEL, 1)
    return trained_artifact.with_version(1)


def message(
    body: bytes, attributes: dict[str, str] | None = None, message_id: str | None = None
) -> dict:
    return {
        "data": base64.b64encode(body).decode(),
        "attributes": attributes or {},
        "messageId": message_id or uuid.uuid4().hex,
        "publishTime": "2026-11-29T00:00:00.000Z",
    }


def published_event(msg: dict, **extra_attributes: str) -> dict:
    return {
        "id": msg["messageId"],
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/local-ml/topics/prediction-requests",
        "specversion": "1.0",
        **extra_attributes,
    }


def push_event(msg: dict) -> CloudEvent:
    """What functions-framework makes of the emulator's raw push body."""
    return CloudEvent(
        published_event(msg),
        {"message": {"@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage", **msg}},
    )


def eventarc_event(msg: dict) -> CloudEvent:
    """What an Eventarc Pub/Sub trigger sends."""
    return CloudEvent(
        published_event(msg, datacontenttype="application/json"),
        {"message": msg, "subscription": "projects/local-ml/subscriptions/eventarc-trigger"},
    )


def decoded(received) -> dict:
    return {"data": json.loads(received.data), "attributes": dict(received.attributes)}


@pytest.mark.parametrize("shape", [push_event, eventarc_event])
def test_a_valid_request_gets_its_predictions(results, production, shape):
    event = shape(message(b'{"instances": [[0.5], [0.2]]}', {"request_id": "r-1"}))
    main.predict_stream(event)
    (result,) = map(decoded, results())
    assert result["attributes"] == {"request_id": "r-1", "status": "ok", "model_version": "1"}
    assert result["data"]["request_id"] == "r-1"
    assert result["data"]["status"] == "ok"
    assert result["data"]["model"] == {"name": MODEL, "version": 1}
    assert result["data"]["predictions"] == pytest.approx(
        production.predict(np.array([[0.5], [0.2]])).tolist()
    )


def test_request_id_defaults_to_the_message_id(results, production):
    main.predict_stream(push_event(message(b'{"instances": [0.5]}', message_id="m-42")))
    (result,) = map(decoded, results())
    assert result["attributes"]["request_id"] == "m-42"


@pytest.mark.parametrize(
    ("body", "attributes", "message_part"),
    [
        (b"not json", {}, "malformed JSON"),
        (b"", {}, "no data"),
        (b'{"instances": [[NaN]]}', {}, "malformed JSON"),
        (b'{"instances": [[0.5, 1]]}', {}, "instances[0]: expected 1"),
        (b'{"instances": [[0.5]]}', {"version": "7"}, "no version 7"),
        (b'{"instances": [[0.5]]}', {"alias": "canary"}, "no alias 'canary'"),
        (b'{"instances": [[0.5]]}', {"version": "x"}, "whole number"),
    ],
)
def test_an_invalid_request_gets_an_error_result_and_is_acknowledged(
    results, production, body, attributes, message_part
):
    event = push_event(message(body, {"request_id": "bad", **attributes}))
    main.predict_stream(event)  # returns: acknowledged, never retried
    (result,) = map(decoded, results())
    assert result["attributes"]["status"] == "error"
    assert result["attributes"]["model_version"] == ""
    assert result["data"]["status"] == "error"
    assert result["data"]["error"]["code"] in (400, 404)
    assert message_part in result["data"]["error"]["message"]


def test_csv_data_by_attribute(results, production):
    main.predict_stream(push_event(message(b"bmi\n0.5\n", {"content_type": "text/csv"})))
    (result,) = map(decoded, results())
    assert result["data"]["predictions"] == pytest.approx(
        production.predict(np.array([[0.5]])).tolist()
    )


def test_no_model_fails_the_invocation_so_pubsub_redelivers(results, serving_env):
    with pytest.raises(ModelUnavailable):
        main.predict_stream(push_event(message(b'{"instances": [[0.5]]}')))
    assert results(timeout=3) == []  # nothing published for a request that will come back


def test_an_unpublishable_result_fails_the_invocation(production, serving_env, monkeypatch):
    monkeypatch.setenv("RESULTS_TOPIC", f"missing-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("PUBLISH_TIMEOUT_SECONDS", "5")
    with pytest.raises(api_exceptions.NotFound):
        main.predict_stream(push_event(message(b'{"instances": [[0.5]]}')))


def test_a_redelivery_yields_an_identical_result(results, production):
    event = push_event(message(b'{"instances": [[0.1], [0.3]]}', {"request_id": "again"}))
    main.predict_stream(event)
    main.predict_stream(event)
    first, second = results(count=2)
    assert first.data == second.data
    assert dict(first.attributes) == dict(second.attributes)


def test_push_and_eventarc_http_requests_through_the_framework(
    results, production, repository_root
):
    client = create_app(
        "predict_stream", str(repository_root / "main.py"), "cloudevent"
    ).test_client()
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
