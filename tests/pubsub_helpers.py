"""Test helpers for the Pub/Sub emulator: uuid-named topics and bounded pulls."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub_v1

from infra.local.cloud import LocalCloud


@dataclass(frozen=True)
class Topic:
    """A topic and one pull subscription on it, for one test."""

    name: str
    path: str
    subscription: str


@contextmanager
def temporary_topic(cloud: LocalCloud, prefix: str) -> Iterator[Topic]:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    project = cloud.config.project_id
    topic = Topic(
        name, f"projects/{project}/topics/{name}", f"projects/{project}/subscriptions/{name}-sub"
    )
    with cloud.pubsub_clients() as (publisher, subscriber):
        publisher.create_topic(name=topic.path)
        subscriber.create_subscription(
            name=topic.subscription, topic=topic.path, ack_deadline_seconds=60
        )
        try:
            yield topic
        finally:
            subscriber.delete_subscription(subscription=topic.subscription)
            publisher.delete_topic(topic=topic.path)


def pull(
    subscriber: pubsub_v1.SubscriberClient,
    subscription: str,
    count: int,
    timeout: float = 30.0,
) -> list[pubsub_v1.types.PubsubMessage]:
    """Pull and acknowledge until `count` messages arrived or `timeout` passed."""
    received: list[pubsub_v1.types.PubsubMessage] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        try:
            response = subscriber.pull(
                subscription=subscription,
                max_messages=min(1000, count - len(received) + 10),
                timeout=5,
            )
        except api_exceptions.DeadlineExceeded:
            continue
        if response.received_messages:
            subscriber.acknowledge(
                subscription=subscription,
                ack_ids=[m.ack_id for m in response.received_messages],
            )
            received.extend(m.message for m in response.received_messages)
    return received
