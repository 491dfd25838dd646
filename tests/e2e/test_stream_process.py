"""predict_stream end to end: emulator push → functions-framework process → results topic."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import pytest
from functions_framework import create_app

from infra.local.cloud import (
    CloudConfig,
    LocalCloud,
    fake_gcs_server_command,
    free_port,
    wait_http_ok,
)
from infra.names import MODEL_NAME as MODEL
from model.gcs import storage_client
from model.registry import Registry
from tests.e2e.functions import ROOT, FunctionProcess
from tests.pubsub_helpers import pull, temporary_topic

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]


@dataclass
class StreamRig:
    cloud: LocalCloud
    function: FunctionProcess
    requests_topic: str
    results_subscription: str
    dead_letter_subscription: str

    def publish(
        self, bodies: dict[str, bytes], attributes: dict[str, str] | None = None
    ) -> dict[str, float]:
        """Publish every body at once, keyed by request id; the time each was sent."""
        sent = {}
        with self.cloud.pubsub_clients() as (publisher, _):
            futures = []
            for request_id, body in bodies.items():
                sent[request_id] = time.time()
                futures.append(
                    publisher.publish(
                        self.requests_topic, body, request_id=request_id, **(attributes or {})
                    )
                )
            for future in futures:
                future.result(timeout=60)
        return sent

    def results(self, count: int, timeout: float) -> dict[str, list[tuple[float, dict, dict]]]:
        """Results by request id (a redelivery may answer twice), with the wall-clock time
        each result was published (stamped by Pub/Sub, so pulling in batches adds nothing)."""
        by_id: dict[str, list[tuple[float, dict, dict]]] = {}
        deadline = time.monotonic() + timeout
        with self.cloud.pubsub_clients() as (_, subscriber):
            while len(by_id) < count and time.monotonic() < deadline:
                for message in pull(
                    subscriber, self.results_subscription, count - len(by_id), timeout=5
                ):
                    attributes = dict(message.attributes)
                    by_id.setdefault(attributes["request_id"], []).append(
                        (message.publish_time.timestamp(), attributes, json.loads(message.data))
                    )
        return by_id


def stream_rig(cloud: LocalCloud, stack: ExitStack, env: dict[str, str]) -> StreamRig:
    requests = stack.enter_context(temporary_topic(cloud, "requests"))
    results = stack.enter_context(temporary_topic(cloud, "results"))
    dead = stack.enter_context(temporary_topic(cloud, "dead-letter"))
    manager = LocalCloud(cloud.config)
    stack.callback(manager.stop)
    function = FunctionProcess(
        manager, "predict_stream", "cloudevent", {**env, "RESULTS_TOPIC": results.name}
    ).start()
    push = f"{requests.name}-push"
    endpoint = function.function.push_endpoint(cloud.config.project_id, requests.name)
    cloud.ensure_push_subscription(push, requests.name, endpoint, dead_letter_topic=dead.name)

    def delete_push_subscription() -> None:
        with cloud.pubsub_clients() as (_, subscriber):
            path = subscriber.subscription_path(cloud.config.project_id, push)
            subscriber.delete_subscription(subscription=path)

    stack.callback(delete_push_subscription)
    return StreamRig(cloud, function, requests.path, results.subscription, dead.subscription)


@pytest.fixture
def rig(local_cloud, bucket, production) -> Iterator[StreamRig]:
    with ExitStack() as stack:
        yield stream_rig(local_cloud, stack, {"MODEL_BUCKET": bucket})


def http_predictions(
    bucket: str, instances: list[list[float]], monkeypatch, local_cloud
) -> list[float]:
    """The HTTP function's answer for the same instances, to compare with the stream's."""
    for key, value in local_cloud.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MODEL_BUCKET", bucket)
    client = create_app("predict_batch", str(ROOT / "main.py")).test_client()
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200
    return response.get_json()["predictions"]


def test_a_thousand_requests_each_get_their_result(rig, bucket, monkeypatch, local_cloud):
    rng = np.random.default_rng(0)
    instances = {
        f"req-{i:04d}": rng.normal(0, 0.05, size=(1 + i % 3, 1)).tolist() for i in range(1000)
    }
    invalid = {request_id for i, request_id in enumerate(sorted(instances)) if i % 20 == 7}  # 5%
    bodies = {
        request_id: (
            json.dumps({"instances": [[True]] if request_id in invalid else rows}).encode()
        )
        for request_id, rows in instances.items()
    }
    sent = rig.publish(bodies)
    answered = rig.results(len(bodies), timeout=180)

    assert set(answered) == set(bodies), f"missing: {sorted(set(bodies) - set(answered))[:10]}"
    valid_ids = sorted(set(bodies) - invalid)
    flat = [row for request_id in valid_ids for row in instances[request_id]]
    expected = iter(http_predictions(bucket, flat, monkeypatch, local_cloud))
    for request_id in sorted(bodies):
        first = answered[request_id][0]
        assert all(data == first[2] for _, _, data in answered[request_id])  # duplicates agree
        _, attributes, data = first
        assert attributes["request_id"] == data["request_id"] == request_id
        if request_id in invalid:
            assert (attributes["status"], data["error"]["code"]) == ("error", 400)
            assert attributes["model_version"] == ""
        else:
            assert attributes["status"] == data["status"] == "ok"
            assert attributes["model_version"] == "1"
            assert data["predictions"] == [next(expected) for _ in instances[request_id]]

    latencies = sorted((answered[r][0][0] - sent[r]) * 1000 for r in bodies)
    span = max(a[0][0] for a in answered.values()) - min(sent.values())
    print(
        f"\nstream: {len(bodies)} requests in {span:.2f} s = {len(bodies) / span:.0f} msg/s; "
        f"publish-to-result p50 {statistics.median(latencies):.0f} ms, "
        f"p99 {latencies[int(0.99 * len(latencies)) - 1]:.0f} ms"
    )


def test_a_killed_function_loses_nothing(rig):
    bodies = {f"kill-{i:03d}": json.dumps({"instances": [[i / 1000]]}).encode() for i in range(300)}
    rig.publish(bodies)
    first = rig.results(20, timeout=60)  # deliveries are flowing: kill mid-stream
    killed = rig.function.kill_worker()
    answered = rig.results(len(bodies) - len(first), timeout=120)
    answered.update(first)
    with rig.cloud.pubsub_clients() as (_, subscriber):
        dead = pull(subscriber, rig.dead_letter_subscription, len(bodies), timeout=3)
    assert not dead
    assert set(answered) == set(bodies), f"{len(bodies) - len(answered)} unanswered"
    assert all(attrs["status"] == "ok" for entries in answered.values() for _, attrs, _ in entries)
    assert killed not in rig.function.worker_pids()  # a new worker answered the rest


def test_storage_outage_dead_letters_then_recovers(local_cloud, trained_artifact, tmp_path):
    # Storage of its own, on disk so that it comes back with its data after the outage.
    storage = LocalCloud(
        CloudConfig(storage_port=free_port(), storage_root=tmp_path / "gcs", log_dir=tmp_path)
    )
    command = fake_gcs_server_command(storage.config)

    def start_storage() -> None:
        process = storage.start_process(f"fake-gcs-{uuid.uuid4().hex[:6]}", command)
        wait_http_ok(f"{storage.config.storage_url}/storage/v1/b", timeout=15, process=process)

    with ExitStack() as stack:
        stack.callback(storage.stop)
        start_storage()
        client = storage_client(local_cloud.config.project_id, storage.config.storage_url)
        client.create_bucket("outage")
        registry = Registry(client, "outage")
        registry.register(trained_artifact, {})
        registry.promote(MODEL, 1)
        storage.stop()  # storage goes down before the function ever loaded a model

        rig = stream_rig(
            local_cloud,
            stack,
            {
                "MODEL_BUCKET": "outage",
                "STORAGE_EMULATOR_HOST": storage.config.storage_url,
                "STORAGE_TIMEOUT_SECONDS": "1",
                "MODEL_REFRESH_SECONDS": "1",
            },
        )
        rig.publish({"during-outage": b'{"instances": [[0.5]]}'})
        with local_cloud.pubsub_clients() as (_, subscriber):
            (dead,) = pull(subscriber, rig.dead_letter_subscription, 1, timeout=90)
        assert dead.attributes["request_id"] == "during-outage"
        assert json.loads(dead.data) == {"instances": [[0.5]]}  # the request itself, intact
        assert rig.results(1, timeout=3) == {}  # and no result was published for it

        start_storage()
        rig.publish({"after-outage": b'{"instances": [[0.5]]}'})
        answered = rig.results(1, timeout=60)
        assert answered["after-outage"][0][1]["status"] == "ok"
        assert rig.function.process.poll() is None  # recovered without a restart
