"""Test helpers for Pub/Sub: uuid-named topics, bounded pulls, the CloudEvents of a push."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cloudevents.http import CloudEvent

from infra.local.cloud import LocalCloud
from infra.pulling import pull

__all__ = ["Topic", "eventarc_event", "message", "pull", "push_event", "temporary_topic"]


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
