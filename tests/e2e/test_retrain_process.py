"""Continuous training end to end: upload → notification → push → retrain process → events,
with predict_batch serving what retrain promotes. Uploads by the Storage client and by
`gcloud storage cp`; nothing mocked."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from model.registry import alias_path
from tests import datasets
from tests.e2e.retrain_rig import (
    MODEL,
    REFRESH_SECONDS,
    RetrainRig,
    retrain_rig,
    start_storage,
    wait_until,
)
from tests.e2e.test_stream_process import StreamRig, stream_rig

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]


@pytest.fixture
def rig(local_cloud, tmp_path) -> Iterator[RetrainRig]:
    with ExitStack() as stack:
        yield retrain_rig(local_cloud, stack, tmp_path)


def post_predict(url: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/predict",
        data=b'{"instances": [[0.05]]}',
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Traffic:
    """POST /predict in a loop from a thread; every answer kept with the time it came."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[float, int, int | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def first_answer_from(self, version: int) -> float | None:
        return next((t for t, _, v in self.answers if v == version), None)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = post_predict(self.url)
            except OSError:
                status, body = 0, {}
            version = body.get("model", {}).get("version") if status == 200 else None
            self.answers.append((time.time(), status, version))


class StreamTraffic:
    """Publish a stream request every 50 ms from a thread; the results read afterwards."""

    def __init__(self, stream: StreamRig) -> None:
        self.stream = stream
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StreamTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def results(self) -> list[tuple[float, dict]]:
        """(publish time, attributes) of every result, once each request has one."""
        answered = self.stream.results(self.sent, timeout=60)
        assert len(answered) == self.sent
        return sorted(((e[0][0], e[0][1]) for e in answered.values()), key=lambda r: r[0])

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.stream.publish({f"s-{self.sent:05d}": b'{"instances": [[0.05]]}'})
            self.sent += 1


def test_a_stronger_dataset_is_promoted_and_served_while_traffic_flows(local_cloud, tmp_path):
    with ExitStack() as stack:
        rig = retrain_rig(local_cloud, stack, tmp_path)
        stream = stream_rig(local_cloud, stack, rig.function_env)
        with Traffic(rig.predict_batch.url) as traffic, StreamTraffic(stream) as stream_traffic:
            wait_until(lambda: traffic.first_answer_from(1), 30, what="version 1 served")
            uploaded = time.time()
            blob = rig.upload("stronger.csv", datasets.stronger())
            (event,) = rig.events(1)
            served = wait_until(lambda: traffic.first_answer_from(2), 30, what="v2 served")
            wait_until(lambda: sum(t > served for t, _, _ in traffic.answers) >= 20, 30)
            wait_until(lambda: time.time() > event["published"] + REFRESH_SECONDS + 1, 10)
        stream_results = stream_traffic.results()
        assert rig.healthy()
        alias = rig.client.bucket(rig.bucket).get_blob(alias_path(MODEL, "production"))
        promoted_at = alias.updated.timestamp()  # when the alias object was written
    data = event["data"]
    assert (data["event"], data["version"], data["production_version"]) == ("promoted", 2, 2)
    assert data["dataset"] == f"gs://{rig.bucket}/{blob.name}#{blob.generation}"
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


def test_noise_uploaded_with_gcloud_is_rejected_and_production_stays(rig):
    uri = rig.gcloud_upload("noise.csv", datasets.noise())
    (event,) = rig.events(1)
    data = event["data"]
    assert event["attributes"] == {"event": "rejected", "model": MODEL, "version": "2"}
    assert data["dataset"].startswith(f"{uri}#")
    assert (data["version"], data["production_version"]) == (2, 1)
    reasons = " ".join(data["reasons"])
    assert f"candidate R² {data['metrics']['candidate']['r2']:.4f}" in reasons
    assert f"(R² {data['metrics']['production']['r2']:.4f})" in reasons
    assert rig.registry.alias(MODEL, "production").version == 1
    report = rig.registry.report(MODEL, 2)
    assert report["gate"]["decision"] == "rejected"
    assert report["gate"]["reasons"] == data["reasons"]
    assert report["dataset"]["uri"] == uri
    status, body = post_predict(rig.predict_batch.url)
    assert (status, body["model"]["version"]) == (200, 1)
    assert rig.healthy()


def test_malformed_uploads_are_invalid_data_and_register_nothing(rig):
    by_gcloud = {"binary.csv", "empty.csv"}
    for name, (body, _) in datasets.MALFORMED.items():
        if name in by_gcloud:
            rig.gcloud_upload(name, body)
        else:
            rig.upload(name, body)
    events = rig.events(len(datasets.MALFORMED))

    by_file = {event["data"]["dataset"].split("/")[-1].split("#")[0]: event for event in events}
    assert set(by_file) == set(datasets.MALFORMED)
    print()
    for name, (_, reason) in datasets.MALFORMED.items():
        event = by_file[name]
        assert event["attributes"] == {"event": "invalid_data", "model": MODEL, "version": ""}
        assert event["data"]["version"] is None
        assert event["data"]["production_version"] == 1
        assert any(reason in text for text in event["data"]["reasons"]), event["data"]
        print(f"{name}: {json.dumps(event['data']['reasons'], ensure_ascii=False)}")
    assert rig.registry.versions(MODEL) == [1]
    assert rig.dead_letters(1, timeout=2) == []
    assert rig.healthy()


def test_the_same_notification_twice_registers_one_version(rig):
    rig.upload("twice.csv", datasets.stronger(seed=1))
    (notification,) = rig.notifications(1)
    (first,) = rig.events(1)
    # Deliver the very same notification again, through Pub/Sub and twice at once directly.
    with rig.cloud.pubsub_clients() as (publisher, _):
        publisher.publish(
            rig.dataset_events.path, notification.data, **dict(notification.attributes)
        ).result(timeout=30)
    push = json.dumps(
        {
            "message": {
                "data": base64.b64encode(notification.data).decode(),
                "attributes": dict(notification.attributes),
                "messageId": "direct",
            },
            "subscription": "projects/local-ml/subscriptions/direct",
        }
    ).encode()
    url = f"{rig.retrain.url}/projects/local-ml/topics/{rig.dataset_events.name}"

    def deliver(_: int) -> int:
        request = urllib.request.Request(
            url, data=push, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(deliver, range(2))) == [200, 200]
    again = rig.events(3)
    assert [event["data"] for event in again] == [first["data"]] * 3
    assert rig.registry.versions(MODEL) == [1, 2]


def test_two_datasets_at_once_are_each_compared_with_the_version_they_replace(rig):
    bodies = {"a.csv": datasets.stronger(seed=11, noise=8), "b.csv": datasets.stronger(seed=12)}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda item: rig.upload(*item), bodies.items()))
    events = rig.events(2)

    assert sorted(event["data"]["version"] for event in events) == [2, 3]
    assert rig.registry.versions(MODEL) == [1, 2, 3]
    compared = {v: rig.registry.report(MODEL, v)["gate"] for v in (2, 3)}
    promoted = {v for v, gate in compared.items() if gate["promoted"]}
    assert promoted, compared  # both beat the seed model by far
    # Follow the alias from version 1: each promotion replaced the version it was compared
    # with, and nothing else.
    serving = 1
    for _ in promoted:
        (serving,) = [v for v in promoted if compared[v]["production_version"] == serving]
    alias = rig.registry.alias(MODEL, "production")
    assert alias.version == serving
    assert alias.document["previous_version"] == compared[serving]["production_version"]
    for version, gate in compared.items():
        if version not in promoted:  # rejected against the production version of its time
            assert gate["production_version"] in {1, *promoted}
            assert f"production version {gate['production_version']}" in " ".join(gate["reasons"])


def test_storage_down_dead_letters_the_notification_then_recovers(local_cloud, tmp_path):
    with ExitStack() as stack:
        rig = retrain_rig(
            local_cloud,
            stack,
            tmp_path,
            storage_root=tmp_path / "gcs",
            extra_env={"STORAGE_TIMEOUT_SECONDS": "1"},
        )
        rig.upload("before.csv", datasets.stronger(seed=2))
        (notification,) = rig.notifications(1)
        assert rig.events(1)[0]["data"]["event"] == "promoted"
        rig.storage.stop()  # storage goes down

        with local_cloud.pubsub_clients() as (publisher, _):  # the notification, redelivered
            publisher.publish(
                rig.dataset_events.path, notification.data, **dict(notification.attributes)
            ).result(timeout=30)
        (dead,) = rig.dead_letters(1, timeout=120)
        assert dead.attributes["objectId"] == notification.attributes["objectId"]
        assert dead.data == notification.data  # the notification itself, intact
        assert rig.events(1, timeout=2) == []  # no outcome for it

        start_storage(rig.storage)  # back, with its data
        rig.upload("after.csv", datasets.MALFORMED["three-rows.csv"][0])
        (event,) = rig.events(1, timeout=60)
        assert event["data"]["event"] == "invalid_data"
        assert rig.healthy()  # recovered without a restart


def test_a_new_model_trains_from_its_own_folder(rig):
    rig.gcloud_upload("weather.csv", datasets.other_features(), model="weather")
    (event,) = rig.events(1)
    assert event["attributes"] == {"event": "promoted", "model": "weather", "version": "1"}
    assert (
        event["data"]["reasons"][-1] == "first version of the model: no production version to beat"
    )
    assert rig.registry.load("weather", 1).features == ("temperature", "pressure")
