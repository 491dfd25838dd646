"""Reading a pull subscription: the one pull-and-acknowledge loop of every reader (make run's
sample, `mlctl results`, the smoke test, the benchmark and the tests)."""

from __future__ import annotations

import time
from collections.abc import Callable

from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub_v1
from google.pubsub_v1 import PubsubMessage as Message

_MAX_WAIT = 5.0  # seconds one pull may wait for messages


def pull_once(
    subscriber: pubsub_v1.SubscriberClient,
    subscription: str,
    keep: Callable[[Message], bool] | None = None,
    max_messages: int = 100,
    timeout: float = _MAX_WAIT,
) -> list[Message]:
    """One pull: acknowledge and return the messages keep accepts (all, without keep); hand
    the others straight back to the subscription, for their own reader. [] when none came."""
    try:
        response = subscriber.pull(
            subscription=subscription, max_messages=max_messages, timeout=timeout
        )
    except api_exceptions.DeadlineExceeded:
        return []
    kept = [m for m in response.received_messages if keep is None or keep(m.message)]
    others = [m.ack_id for m in response.received_messages if m not in kept]
    if kept:
        subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in kept])
    if others:
        subscriber.modify_ack_deadline(
            subscription=subscription, ack_ids=others, ack_deadline_seconds=0
        )
    return [m.message for m in kept]


def pull(
    subscriber: pubsub_v1.SubscriberClient,
    subscription: str,
    count: int,
    timeout: float,
    keep: Callable[[Message], bool] | None = None,
) -> list[Message]:
    """Pull until count messages were kept or timeout seconds passed; those kept."""
    received: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and (left := deadline - time.monotonic()) > 0:
        wanted = min(1000, count - len(received) + 10)
        received += pull_once(subscriber, subscription, keep, wanted, min(_MAX_WAIT, left))
    return received


def with_request_id(request_id: str) -> Callable[[Message], bool]:
    """keep for one request's result."""
    return lambda message: message.attributes.get("request_id") == request_id
