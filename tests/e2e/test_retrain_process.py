"""Continuous training end to end: upload → notification → push → retrain process → events,
with predict_batch serving what retrain promotes. Uploads by the Storage client and by
`gcloud storage cp`; nothing mocked."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.cloud import storage

from infra import names
from infra.local.processes import wait_http_ok
from infra.local.system import LocalSystem
from model.registry import Registry, alias_path
from tests import datasets
from tests.e2e.helpers import call, stream_results, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]
MODEL = names.MODEL_NAME
REFRESH_SECONDS = 1.0
ENV = {"MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS)}
FUNCTIONS = ["retrain", "predict_batch"]


@pytest.fixture
def system(start_system) -> LocalSystem:
    """retrain fed by the uploads' notifications, predict_batch serving; version 1 promoted."""
    return start_system(FUNCTIONS, env=ENV)


@pytest.fixture
def registry(system) -> Iterator[Registry]:
    with contextlib.closing(system.storage_client()) as client:
        yield system.registry(client)


def upload(system: LocalSystem, name: str, data: bytes) -> storage.Blob:
    """Upload with the Cloud Storage client, as `mlctl upload` does."""
    with contextlib.closing(system.storage_client()) as client:
        blob = client.bucket(system.config.bucket).blob(names.incoming_prefix(MODEL) + name)
        blob.upload_from_string(data, content_type="text/csv")
    return blob


def gcloud_upload(system: LocalSystem, tmp_path: Path, name: str, data: bytes, model=MODEL) -> str:
    """Upload with `gcloud storage cp` against the system's fake-gcs-server; the gs:// URI."""
    local = tmp_path / "uploads" / name
    local.parent.mkdir(exist_ok=True)
    local.write_bytes(data)
    uri = f"gs://{system.config.bucket}/{names.incoming_prefix(model)}"
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud-config"),  # never the user's
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{system.config.storage_url}/",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_PROJECT": system.config.project_id,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
    }
    command = ["gcloud", "storage", "cp", str(local), uri]
    subprocess.run(command, env=env, capture_output=True, timeout=120, check=True)
    return uri + name


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


def predict(system: LocalSystem) -> tuple[int, dict]:
    return call(f"{system.url('predict_batch')}/predict", {"instances": [[0.05]]}, timeout=10)


class Traffic:
    """From a thread, POST /predict in a loop and publish a stream request every 50 ms;
    every HTTP answer kept with the time it came."""

    def __init__(self, system: LocalSystem) -> None:
        self.system = system
        self.answers: list[tuple[float, int, int | None]] = []
        self.sent = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=t, daemon=True) for t in (self._http, self._stream)
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def first_answer_from(self, version: int) -> float | None:
        return next((t for t, _, v in self.answers if v == version), None)

    def stream_results(self) -> list[tuple[float, dict]]:
        """(publish time, attributes) of every stream result, once each request has one."""
        answered = stream_results(self.system, self.sent, timeout=60)
        assert len(answered) == self.sent
        return sorted(((e[0][0], e[0][1]) for e in answered.values()), key=lambda r: r[0])

    def _http(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = predict(self.system)
            except OSError:
                status, body = 0, {}
            version = body.get("model", {}).get("version") if status == 200 else None
            self.answers.append((time.time(), status, version))

    def _stream(self) -> None:
        topic = self.system.config.topic_path(names.PREDICTION_REQUESTS)
        with self.system.cloud.pubsub_clients() as (publisher, _):
            while not self._stop.wait(0.05):
                request_id = f"s-{self.sent:05d}"
                body = b'{"instances": [[0.05]]}'
                publisher.publish(topic, body, request_id=request_id).result(timeout=30)
                self.sent += 1


def test_a_stronger_dataset_is_promoted_and_served_while_traffic_flows(start_system):
    system = start_system([*FUNCTIONS, "predict_stream"], env=ENV)
    with Traffic(system) as traffic:
        wait_until(lambda: traffic.first_answer_from(1), 30, what="version 1 served")
        uploaded = time.time()
        blob = upload(system, "stronger.csv", datasets.stronger())
        (event,) = events(system, 1)
        served = wait_until(lambda: traffic.first_answer_from(2), 30, what="v2 served")
        wait_until(lambda: sum(t > served for t, _, _ in traffic.answers) >= 20, 30)
        wait_until(lambda: time.time() > event["published"] + REFRESH_SECONDS + 1, 10)
    stream_results = traffic.stream_results()
    assert_healthy(system)
    with contextlib.closing(system.storage_client()) as client:
        alias = client.bucket(system.config.bucket).get_blob(alias_path(MODEL, "production"))
    promoted_at = alias.updated.timestamp()  # when the alias object was written
    data = event["data"]
    assert (data["event"], data["version"], data["production_version"]) == ("promoted", 2, 2)
    assert data["dataset"] == f"gs://{system.config.bucket}/{blob.name}#{blob.generation}"
    failed = [answer for answer in traffic.answers if answer[1] != 200]
    assert failed == []
    # Served within the refresh interval of the alias write (0.5 s for a loaded machine).
    assert served - promoted_at <= REFRESH_SECONDS + 0.5
    after = [version for t, _, version in traffic.answers if t > served]
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
        f"{len(traffic.answers)} HTTP requests, {len(failed)} failed; "
        f"{len(stream_results)} stream requests, all ok"
    )


def test_noise_uploaded_with_gcloud_is_rejected_and_production_stays(system, registry, tmp_path):
    uri = gcloud_upload(system, tmp_path, "noise.csv", datasets.noise())
    (event,) = events(system, 1)
    data = event["data"]
    assert event["attributes"] == {"event": "rejected", "model": MODEL, "version": "2"}
    assert data["dataset"].startswith(f"{uri}#")
    assert (data["version"], data["production_version"]) == (2, 1)
    reasons = " ".join(data["reasons"])
    assert f"candidate R² {data['metrics']['candidate']['r2']:.4f}" in reasons
    assert f"(R² {data['metrics']['production']['r2']:.4f})" in reasons
    assert registry.alias(MODEL, "production").version == 1
    report = registry.report(MODEL, 2)
    assert report["gate"]["decision"] == "rejected"
    assert report["gate"]["reasons"] == data["reasons"]
    assert report["dataset"]["uri"] == uri
    status, body = predict(system)
    assert (status, body["model"]["version"]) == (200, 1)
    assert_healthy(system)


def test_malformed_uploads_are_invalid_data_and_register_nothing(system, registry, tmp_path):
    by_gcloud = {"binary.csv", "empty.csv"}
    for name, (body, _) in datasets.MALFORMED.items():
        if name in by_gcloud:
            gcloud_upload(system, tmp_path, name, body)
        else:
            upload(system, name, body)
    received = events(system, len(datasets.MALFORMED))

    by_file = {event["data"]["dataset"].split("/")[-1].split("#")[0]: event for event in received}
    assert set(by_file) == set(datasets.MALFORMED)
    print()
    for name, (_, reason) in datasets.MALFORMED.items():
        event = by_file[name]
        assert event["attributes"] == {"event": "invalid_data", "model": MODEL, "version": ""}
        assert event["data"]["version"] is None
        assert event["data"]["production_version"] == 1
        assert any(reason in text for text in event["data"]["reasons"]), event["data"]
        print(f"{name}: {json.dumps(event['data']['reasons'], ensure_ascii=False)}")
    assert registry.versions(MODEL) == [1]
    assert system.pull(names.DATASET_DEAD_LETTER_SUB, 1, timeout=2) == []
    assert_healthy(system)


def test_the_same_notification_twice_registers_one_version(system, registry):
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
    assert registry.versions(MODEL) == [1, 2]


def test_two_datasets_at_once_are_each_compared_with_the_version_they_replace(system, registry):
    bodies = {"a.csv": datasets.stronger(seed=11, noise=8), "b.csv": datasets.stronger(seed=12)}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda item: upload(system, *item), bodies.items()))
    received = events(system, 2)

    assert sorted(event["data"]["version"] for event in received) == [2, 3]
    assert registry.versions(MODEL) == [1, 2, 3]
    compared = {v: registry.report(MODEL, v)["gate"] for v in (2, 3)}
    promoted = {v for v, gate in compared.items() if gate["promoted"]}
    assert promoted, compared  # both beat the seed model by far
    # Follow the alias from version 1: each promotion replaced the version it was compared
    # with, and nothing else.
    serving = 1
    for _ in promoted:
        (serving,) = [v for v in promoted if compared[v]["production_version"] == serving]
    alias = registry.alias(MODEL, "production")
    assert alias.version == serving
    assert alias.document["previous_version"] == compared[serving]["production_version"]
    for version, gate in compared.items():
        if version not in promoted:  # rejected against the production version of its time
            assert gate["production_version"] in {1, *promoted}
            assert f"production version {gate['production_version']}" in " ".join(gate["reasons"])


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


def test_a_new_model_trains_from_its_own_folder(system, registry, tmp_path):
    gcloud_upload(system, tmp_path, "weather.csv", datasets.other_features(), model="weather")
    (event,) = events(system, 1)
    assert event["attributes"] == {"event": "promoted", "model": "weather", "version": "1"}
    assert (
        event["data"]["reasons"][-1] == "first version of the model: no production version to beat"
    )
    assert registry.load("weather", 1).features == ("temperature", "pressure")
