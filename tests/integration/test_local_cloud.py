"""The local cloud against the real emulators, on free ports, without mocks."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from google.api_core import exceptions as google_exceptions
from google.cloud import pubsub_v1

from infra import names
from infra.local.cloud import (
    FAKE_GCS_SERVER,
    PUBSUB_EMULATOR,
    CloudConfig,
    LocalCloud,
    port_from_environ,
)
from infra.local.errors import LocalCloudError, MissingPrerequisite
from infra.local.processes import LOOPBACK, group_exists, http_get, port_in_use
from infra.pulling import pull

pytestmark = pytest.mark.emulators

Message = pubsub_v1.types.PubsubMessage


@pytest.fixture
def cloud(local_cloud: LocalCloud) -> LocalCloud:
    """The session's: a LocalCloud on free ports, the defaults of docs/resources.md."""
    return local_cloud


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pull_until(
    subscriber: pubsub_v1.SubscriberClient,
    subscription: str,
    wanted: Callable[[Message], bool],
    attempts: int = 5,
) -> list[Message]:
    """Pull and ack until a wanted message arrives; every message pulled on the way."""
    pulled: list[Message] = []
    for _ in range(attempts):
        try:
            # The emulator holds an empty pull open for ~4 s, so each try is bounded.
            response = subscriber.pull(subscription=subscription, max_messages=10, timeout=5)
        except google_exceptions.DeadlineExceeded:
            continue
        if response.received_messages:
            subscriber.acknowledge(
                subscription=subscription,
                ack_ids=[received.ack_id for received in response.received_messages],
            )
        pulled += [received.message for received in response.received_messages]
        if any(wanted(message) for message in pulled):
            return pulled
    raise AssertionError(f"no wanted message on {subscription}; got {pulled}")


def test_topics_and_pull_subscriptions_exist(cloud: LocalCloud) -> None:
    project = f"projects/{cloud.config.project_id}"
    with cloud.pubsub_clients() as (publisher, subscriber):
        topics = {topic.name for topic in publisher.list_topics(project=project)}
        subscriptions = {
            subscription.name: subscription.topic
            for subscription in subscriber.list_subscriptions(project=project)
        }

    assert {f"{project}/topics/{topic}" for topic in names.TOPICS} <= topics
    for subscription, topic in names.PULL_SUBSCRIPTIONS.items():
        assert subscriptions[f"{project}/subscriptions/{subscription}"] == (
            f"{project}/topics/{topic}"
        )


def test_bucket_exists(cloud: LocalCloud) -> None:
    client = cloud.storage_client()
    try:
        assert client.get_bucket(cloud.config.bucket).name == names.BUCKET
    finally:
        client.close()


def test_env_points_children_at_the_emulators(cloud: LocalCloud) -> None:
    env = cloud.env()

    assert env["PUBSUB_EMULATOR_HOST"] == cloud.config.pubsub_host
    assert env["STORAGE_EMULATOR_HOST"] == cloud.config.storage_url
    assert env["GOOGLE_CLOUD_PROJECT"] == names.PROJECT_ID
    assert env["MODEL_BUCKET"] == names.BUCKET
    assert CloudConfig.from_environ(env, log_dir=cloud.config.log_dir) == cloud.config


def test_port_variables_win_over_the_emulator_hosts(tmp_path: Path) -> None:
    environ = {
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:1111",
        "PUBSUB_PORT": "2222",
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:3333",
        "STORAGE_PORT": "4444",
    }

    config = CloudConfig.from_environ(environ, log_dir=tmp_path)

    assert (config.pubsub_host, config.storage_url) == (
        f"{LOOPBACK}:2222",
        f"http://{LOOPBACK}:4444",
    )


@pytest.mark.parametrize("raw", ["abc", "0", "65536", "-1", "80.5", "²"])
def test_a_port_variable_that_is_no_port_is_refused(raw: str) -> None:
    with pytest.raises(LocalCloudError, match=r"PUBSUB_PORT=.* is not a TCP port number"):
        port_from_environ({"PUBSUB_PORT": raw}, "PUBSUB_PORT")


def test_publish_and_pull_round_trip(cloud: LocalCloud) -> None:
    project = cloud.config.project_id
    with cloud.pubsub_clients() as (publisher, subscriber):
        topic = publisher.topic_path(project, unique("round-trip"))
        subscription = subscriber.subscription_path(project, unique("round-trip-sub"))
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=subscription, topic=topic)

        publisher.publish(topic, b'{"bmi": 0.05}', origin="test").result(timeout=10)
        pulled = pull_until(subscriber, subscription, lambda message: True)

        subscriber.delete_subscription(subscription=subscription)
        publisher.delete_topic(topic=topic)
    assert [(message.data, message.attributes["origin"]) for message in pulled] == [
        (b'{"bmi": 0.05}', "test")
    ]


def test_dataset_upload_publishes_object_finalize(cloud: LocalCloud) -> None:
    project = cloud.config.project_id
    inside = f"{names.DATASETS_PREFIX}{unique('upload')}.csv"
    outside = f"models/{unique('upload')}.txt"
    client = cloud.storage_client()
    with cloud.pubsub_clients() as (publisher, subscriber):
        subscription = subscriber.subscription_path(project, unique("dataset-events"))
        subscriber.create_subscription(
            name=subscription, topic=publisher.topic_path(project, names.DATASET_EVENTS)
        )
        bucket = client.bucket(cloud.config.bucket)
        bucket.blob(outside).upload_from_string(b"not a dataset")
        bucket.blob(inside).upload_from_string(b"bmi,target\n0.05,151\n", if_generation_match=0)

        pulled = pull_until(
            subscriber, subscription, lambda message: message.attributes["objectId"] == inside
        )
        subscriber.delete_subscription(subscription=subscription)
    client.close()

    event = next(message for message in pulled if message.attributes["objectId"] == inside)
    assert event.attributes["eventType"] == "OBJECT_FINALIZE"
    assert event.attributes["bucketId"] == cloud.config.bucket
    assert event.attributes["payloadFormat"] == "JSON_API_V1"
    assert json.loads(event.data)["name"] == inside
    assert outside not in {message.attributes["objectId"] for message in pulled}


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Records each push; the fixture gives every test a subclass with its own record."""

    url: ClassVar[str]
    received: ClassVar[list[tuple[str, bytes]]]
    arrived: ClassVar[threading.Event]
    status: ClassVar[int]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.arrived.set()
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output clean


@contextlib.contextmanager
def _endpoint(status: int) -> Iterator[type[_RecordingHandler]]:
    """A push endpoint on a free port answering every push with status."""
    handler: type[_RecordingHandler] = type(
        "Handler",
        (_RecordingHandler,),
        {"received": [], "arrived": threading.Event(), "status": status},
    )
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    handler.url = f"http://{LOOPBACK}:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def push_endpoint() -> Iterator[type[_RecordingHandler]]:
    with _endpoint(204) as handler:
        yield handler


@pytest.fixture
def failing_endpoint() -> Iterator[type[_RecordingHandler]]:
    with _endpoint(500) as handler:
        yield handler


def test_push_subscription_is_idempotent_and_delivers(
    cloud: LocalCloud, push_endpoint: type[_RecordingHandler]
) -> None:
    project = cloud.config.project_id
    topic, name = unique("push-topic"), unique("push-sub")
    url = push_endpoint.url
    with cloud.pubsub_clients() as (publisher, subscriber):
        publisher.create_topic(name=publisher.topic_path(project, topic))
        cloud.ensure_push_subscription(name, topic, f"{url}/first")
        # Again, as a rerun against a reused emulator would: it must re-point, not fail.
        cloud.ensure_push_subscription(
            name, topic, f"{url}/second", dead_letter_topic=names.PREDICTION_DEAD_LETTER
        )
        publisher.publish(publisher.topic_path(project, topic), b"hello").result(timeout=10)

        assert push_endpoint.arrived.wait(timeout=10)
        created = subscriber.get_subscription(
            subscription=subscriber.subscription_path(project, name)
        )
        subscriber.delete_subscription(subscription=created.name)
        publisher.delete_topic(topic=publisher.topic_path(project, topic))

    path, body = push_endpoint.received[0]
    assert path == "/second"
    assert json.loads(body)["subscription"] == created.name
    assert created.dead_letter_policy.max_delivery_attempts == names.DEAD_LETTER_MAX_ATTEMPTS


def test_pushes_failing_together_are_each_tried_then_dead_lettered(
    cloud: LocalCloud, failing_endpoint: type[_RecordingHandler]
) -> None:
    """Messages whose pushes fail at the same moment each get every attempt, then the dead
    letter topic; the emulator's retry policy would lose them after two or three attempts,
    so the local push subscriptions have none."""
    project = cloud.config.project_id
    topic, name, dead = unique("failing-topic"), unique("failing-sub"), unique("dead")
    count = 10
    with cloud.pubsub_clients() as (publisher, subscriber):
        for created in (topic, dead):
            publisher.create_topic(name=publisher.topic_path(project, created))
        dead_sub = subscriber.subscription_path(project, f"{dead}-sub")
        subscriber.create_subscription(name=dead_sub, topic=publisher.topic_path(project, dead))
        # As an emulator reused from an older run holds it: with a retry policy, to be cleared.
        subscriber.create_subscription(
            request=pubsub_v1.types.Subscription(
                name=subscriber.subscription_path(project, name),
                topic=publisher.topic_path(project, topic),
                retry_policy=pubsub_v1.types.RetryPolicy(minimum_backoff=timedelta(seconds=1)),
            )
        )
        cloud.ensure_push_subscription(name, topic, failing_endpoint.url, dead_letter_topic=dead)
        futures = [
            publisher.publish(publisher.topic_path(project, topic), f"m{i}".encode())
            for i in range(count)
        ]
        for future in futures:
            future.result(timeout=10)

        dead_lettered = pull(subscriber, dead_sub, count, timeout=60)
        subscriber.delete_subscription(subscription=subscriber.subscription_path(project, name))
        subscriber.delete_subscription(subscription=dead_sub)
        for created in (topic, dead):
            publisher.delete_topic(topic=publisher.topic_path(project, created))

    assert sorted(message.data for message in dead_lettered) == sorted(
        f"m{i}".encode() for i in range(count)
    )
    assert len(failing_endpoint.received) == count * names.DEAD_LETTER_MAX_ATTEMPTS


def test_a_second_cloud_reuses_the_running_emulators(cloud: LocalCloud) -> None:
    second = LocalCloud(cloud.config)

    with second:
        assert second.reused == [PUBSUB_EMULATOR, FAKE_GCS_SERVER]
        assert second.pids() == {}

    assert http_get(cloud.config.pubsub_url) == (200, b"Ok\n")


def test_a_port_held_by_something_else_is_refused(tmp_path: Path) -> None:
    with socket.create_server((LOOPBACK, 0)) as squatter:
        port = squatter.getsockname()[1]
        cloud = LocalCloud(CloudConfig(pubsub_host=f"{LOOPBACK}:{port}", log_dir=tmp_path))

        with pytest.raises(LocalCloudError, match=f"port {port} is taken"):
            cloud.start()
    assert cloud.pids() == {}


def test_stop_ends_every_process_and_frees_the_ports(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    cloud = LocalCloud.on_free_ports(tmp_path / "logs", storage_root=root)
    cloud.start()
    client = cloud.storage_client()
    client.bucket(cloud.config.bucket).blob("datasets/kept.csv").upload_from_string(b"x")
    client.close()
    pids = cloud.pids()

    cloud.stop()
    cloud.stop()  # idempotent

    assert set(pids) == {PUBSUB_EMULATOR, FAKE_GCS_SERVER}
    for pid in pids.values():
        assert not group_exists(pid)  # nothing left in the child's process group
    host, pubsub_port = cloud.config.pubsub_address
    assert not port_in_use(host, pubsub_port)
    assert not port_in_use(LOOPBACK, cloud.config.storage_port)
    assert (root / cloud.config.bucket / "datasets" / "kept.csv").exists()


@pytest.mark.parametrize("missing", ["emulator", "java"])
def test_missing_prerequisite_is_one_clear_line(
    missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if missing == "emulator":
        monkeypatch.setenv("PUBSUB_EMULATOR_BIN", str(tmp_path / "no-such-emulator"))
    else:
        monkeypatch.delenv("PUBSUB_EMULATOR_BIN", raising=False)
        monkeypatch.delenv("JAVA_HOME", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no java
    cloud = LocalCloud.on_free_ports(tmp_path)

    with pytest.raises(MissingPrerequisite) as raised:
        cloud.start()

    message = str(raised.value)
    assert "\n" not in message
    assert "apt-get install" in message
    assert "openjdk-17-jre-headless" in message
    assert cloud.pids() == {}


def test_an_emulator_that_dies_is_reported_with_its_last_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken-emulator"
    broken.write_text("#!/bin/sh\necho 'Address already in use'\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PUBSUB_EMULATOR_BIN", str(broken))
    cloud = LocalCloud.on_free_ports(tmp_path)

    with pytest.raises(LocalCloudError, match="exited with code 3") as raised:
        cloud.start()

    assert "Address already in use" in str(raised.value)
    assert cloud.pids() == {}


def test_a_child_that_exits_is_reported_until_stopped(tmp_path: Path) -> None:
    cloud = LocalCloud(CloudConfig(log_dir=tmp_path))
    quitter = cloud.start_process("quitter", ["sh", "-c", "echo bye; exit 4"])
    sleeper = cloud.start_process("sleeper", ["sleep", "60"])
    quitter.wait(timeout=10)

    [exited] = cloud.exited()
    assert (exited.name, exited.exit_code(), exited.log_path) == (
        "quitter",
        4,
        tmp_path / "quitter.log",
    )
    assert exited.log_path.read_text() == "bye\n"

    cloud.stop()
    assert cloud.exited() == []
    assert cloud.children() == []
    assert not group_exists(sleeper.pid)
