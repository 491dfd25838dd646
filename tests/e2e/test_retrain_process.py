"""Continuous training end to end: upload → notification → push → retrain process → events,
with predict_batch and predict_stream serving what retrain promotes; nothing mocked.

What retrain decides for each kind of upload is tested in this process, at less cost, by
tests/integration/test_retrain_function.py; uploads by `mlctl upload` and `gcloud storage
cp` by tests/e2e/test_make_run.py; racing promotions by tests/integration/test_pipeline.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud import storage

from infra import names
from infra.local.processes import wait_http_ok
from infra.local.system import LocalSystem
from model.registry import alias_path
from tests import datasets
from tests.e2e.helpers import stream_results, wait_until
from tests.traffic import Traffic

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]
MODEL = names.MODEL_NAME
REFRESH_SECONDS = 1.0
ENV = {"MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS)}
FUNCTIONS = ["retrain", "predict_batch"]


def upload(system: LocalSystem, name: str, data: bytes) -> storage.Blob:
    """Upload with the Cloud Storage client, as `mlctl upload` does."""
    with contextlib.closing(system.storage_client()) as client:
        blob = client.bucket(system.config.bucket).blob(names.incoming_prefix(MODEL) + name)
        blob.upload_from_string(data, content_type="text/csv")
    return blob


def events(system: LocalSystem, count: int, timeout: float = 60.0) -> list[dict]:
    """The next count model events: data, attributes and Pub/Sub's publish time."""
    return [
        {
            "data": json.loads(m.data),
            "attributes": dict(m.attributes),
            "published": m.publish_time.timestamp(),
        }
        for m in system.pull(names.MODEL_EVENTS_SUB, count, timeout)
    ]


def assert_healthy(system: LocalSystem) -> None:
    """No function has exited, and predict_batch answers its health check."""
    assert system.cloud.exited() == []
    wait_http_ok(f"{system.url('predict_batch')}/health", timeout=10)


class StreamRequests:
    """From a thread, publish a stream request every 50 ms until the context ends."""

    def __init__(self, system: LocalSystem) -> None:
        self.system = system
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._publish, daemon=True)

    def __enter__(self) -> StreamRequests:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def results(self) -> list[tuple[float, dict]]:
        """(publish time, attributes) of every stream result, once each request has one."""
        answered = stream_results(self.system, self.sent, timeout=60)
        assert len(answered) == self.sent
        return sorted(((e[0][0], e[0][1]) for e in answered.values()), key=lambda r: r[0])

    def _publish(self) -> None:
        topic = self.system.config.topic_path(names.PREDICTION_REQUESTS)
        with self.system.cloud.pubsub_clients() as (publisher, _):
            while not self._stop.wait(0.05):
                request_id = f"s-{self.sent:05d}"
                body = b'{"instances": [[0.05]]}'
                publisher.publish(topic, body, request_id=request_id).result(timeout=30)
                self.sent += 1


def first_answer_from(traffic: Traffic, version: int) -> float | None:
    return next((a.received for a in traffic.answers if a.version == version), None)


def test_a_stronger_dataset_is_promoted_and_served_while_traffic_flows(start_system):
    system = start_system([*FUNCTIONS, "predict_stream"], env=ENV)
    one_instance = (("POST", "/predict", b'{"instances": [[0.05]]}', 1),)
    with (
        Traffic(system.url("predict_batch"), workers=1, requests=one_instance) as traffic,
        StreamRequests(system) as stream,
    ):
        wait_until(lambda: first_answer_from(traffic, 1), 30, what="version 1 served")
        uploaded = time.time()
        blob = upload(system, "stronger.csv", datasets.stronger())
        (event,) = events(system, 1)
        served = wait_until(lambda: first_answer_from(traffic, 2), 30, what="v2 served")
        wait_until(lambda: sum(a.received > served for a in traffic.answers) >= 20, 30)
        wait_until(lambda: time.time() > event["published"] + REFRESH_SECONDS + 1, 10)
    stream_results = stream.results()
    answers = traffic.answers
    assert_healthy(system)
    with contextlib.closing(system.storage_client()) as client:
        alias = client.bucket(system.config.bucket).get_blob(alias_path(MODEL, "production"))
    promoted_at = alias.updated.timestamp()  # when the alias object was written
    data = event["data"]
    assert (data["event"], data["version"], data["production_version"]) == ("promoted", 2, 2)
    assert data["dataset"] == f"gs://{system.config.bucket}/{blob.name}#{blob.generation}"
    failed = [answer for answer in answers if answer.status != 200]
    assert failed == []
    # Served within the refresh interval of the alias write (0.5 s for a loaded machine).
    assert served - promoted_at <= REFRESH_SECONDS + 0.5
    after = [answer.version for answer in answers if answer.received > served]
    assert set(after) == {2}  # never back to the old version once switched

    assert all(attributes["status"] == "ok" for _, attributes in stream_results)
    stream_served = next(t for t, a in stream_results if a["model_version"] == "2")
    assert stream_served - promoted_at <= REFRESH_SECONDS + 0.5
    assert stream_results[-1][1]["model_version"] == "2"
    print(
        f"\nretrain: upload → alias moved {promoted_at - uploaded:.2f} s, → promoted event "
        f"{event['published'] - uploaded:.2f} s; alias moved → first HTTP answer from "
        f"version 2 {served - promoted_at:.2f} s, → first stream result "
        f"{stream_served - promoted_at:.2f} s (MODEL_REFRESH_SECONDS={REFRESH_SECONDS:g}); "
        f"{len(answers)} HTTP requests, {len(failed)} failed; "
        f"{len(stream_results)} stream requests, all ok"
    )


def test_the_same_notification_twice_registers_one_version(start_system):
    system = start_system(FUNCTIONS, env=ENV)
    notifications = system.add_subscription(names.DATASET_EVENTS)
    upload(system, "twice.csv", datasets.stronger(seed=1))
    (notification,) = system.pull(notifications, 1, timeout=30)
    (first,) = events(system, 1)
    # Deliver the very same notification again, through Pub/Sub and twice at once directly.
    system.publish(names.DATASET_EVENTS, notification.data, **dict(notification.attributes))
    push = {
        "message": {
            "data": base64.b64encode(notification.data).decode(),
            "attributes": dict(notification.attributes),
            "messageId": "direct",
        },
        "subscription": "projects/local-ml/subscriptions/direct",
    }
    topic = system.config.resource(names.DATASET_EVENTS)
    url = system.functions["retrain"].push_endpoint(system.config.project_id, topic)

    def deliver(_: int) -> int:
        request = urllib.request.Request(
            url, json.dumps(push).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(deliver, range(2))) == [200, 200]
    again = events(system, 3)
    assert [event["data"] for event in again] == [first["data"]] * 3
    with contextlib.closing(system.storage_client()) as client:
        assert system.registry(client).versions(MODEL) == [1, 2]


def test_storage_down_dead_letters_the_notification_then_recovers(start_system, tmp_path):
    env = {**ENV, "STORAGE_TIMEOUT_SECONDS": "1"}
    system = start_system(FUNCTIONS, env=env, storage_root=tmp_path / "gcs")
    notifications = system.add_subscription(names.DATASET_EVENTS)
    upload(system, "before.csv", datasets.stronger(seed=2))
    (notification,) = system.pull(notifications, 1, timeout=30)
    assert events(system, 1)[0]["data"]["event"] == "promoted"
    system.stop_storage()  # storage goes down

    # The notification, redelivered.
    system.publish(names.DATASET_EVENTS, notification.data, **dict(notification.attributes))
    (dead,) = system.pull(names.DATASET_DEAD_LETTER_SUB, 1, timeout=120)
    assert dead.attributes["objectId"] == notification.attributes["objectId"]
    assert dead.data == notification.data  # the notification itself, intact
    assert events(system, 1, timeout=2) == []  # no outcome for it

    system.start_storage()  # back, with its data
    upload(system, "after.csv", datasets.MALFORMED["three-rows.csv"][0])
    (event,) = events(system, 1, timeout=60)
    assert event["data"]["event"] == "invalid_data"
    assert_healthy(system)  # recovered without a restart
