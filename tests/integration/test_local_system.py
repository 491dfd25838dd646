"""The one harness (infra/local/system.py): systems sharing an emulator stay apart, and each
part stops and starts again as an outage needs."""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions as google_exceptions

from infra import names
from infra.http_client import http_get

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
REQUEST = json.dumps({"instances": [[0.5]]}).encode()


def test_systems_on_one_emulator_never_see_each_others_messages(start_system):
    first = start_system(["predict_stream"])
    second = start_system([], first_model=False)
    first.publish(names.PREDICTION_REQUESTS, REQUEST, request_id="only-first")

    (result,) = first.pull_json(names.PREDICTION_RESULTS_SUB, 1, timeout=30)
    assert (result["request_id"], result["status"]) == ("only-first", "ok")
    assert second.pull(names.PREDICTION_RESULTS_SUB, 1, timeout=2) == []


def test_stop_removes_a_shared_systems_topics_and_leaves_the_emulator(start_system, local_cloud):
    system = start_system([], first_model=False)
    topic = system.config.topic_path(names.PREDICTION_REQUESTS)
    system.stop()

    with local_cloud.pubsub_clients() as (publisher, _):
        with pytest.raises(google_exceptions.NotFound):
            publisher.get_topic(topic=topic)
        publisher.get_topic(topic=local_cloud.config.topic_path(names.PREDICTION_REQUESTS))


def test_storage_comes_back_with_its_objects_and_a_function_after_a_restart(start_system, tmp_path):
    system = start_system(["predict_batch"], storage_root=tmp_path / "gcs")
    system.stop_storage()
    assert http_get(f"{system.config.storage_url}/storage/v1/b") is None  # refused
    system.start_storage()
    with system.storage_client() as client:
        assert system.registry(client).alias(names.MODEL_NAME, names.SERVING_ALIAS).version == 1

    system.stop_function("predict_batch")
    assert http_get(system.url("predict_batch") + "/health") is None
    system.restart_function("predict_batch")
    status, body = http_get(system.url("predict_batch") + "/stream/0.5", timeout=30)
    assert status == 200
    assert json.loads(body)["model"]["version"] == 1
