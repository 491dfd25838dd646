"""One window of the prediction log: pulled from its subscription, held, then acknowledged.

Pulled messages are leased for LEASE_SECONDS, so they stay with this job while it computes
and writes the report; they are acknowledged only afterwards. If the job fails, it hands
them back at once (`release`); if it crashes, the lease runs out and Pub/Sub redelivers
them to the next window. Nothing is lost either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub_v1

# Longer than the function's timeout (300 s in Terraform): a running job keeps its window.
LEASE_SECONDS = 600
# Messages per pull and per acknowledge call (the service's limits are 1,000 and ~2,500).
PULL_MESSAGES = 1_000
ACK_CHUNK = 1_000
# How long the first pull waits for messages; later pulls take only what is there at once,
# and an empty answer ends the window.
PULL_TIMEOUT_SECONDS = 5.0


@dataclass
class Window:
    """The messages of one window: data by message id, and the ack ids to settle."""

    subscription: str
    data: dict[str, bytes] = field(default_factory=dict)
    ack_ids: list[str] = field(default_factory=list)


def pull(subscriber: pubsub_v1.SubscriberClient, subscription: str, limit: int) -> Window:
    """Up to `limit` messages: pull until the subscription has no more right now."""
    window = Window(subscription)
    while len(window.ack_ids) < limit:
        try:
            response = subscriber.pull(
                request={
                    "subscription": subscription,
                    "max_messages": min(PULL_MESSAGES, limit - len(window.ack_ids)),
                    # Deprecated for a reason: it may answer empty while messages exist. Here
                    # that only ends this window early; the next one takes the rest.
                    "return_immediately": bool(window.ack_ids),
                },
                timeout=PULL_TIMEOUT_SECONDS,
            )
        except api_exceptions.DeadlineExceeded:
            break
        received = response.received_messages
        if not received:
            break
        ack_ids = [message.ack_id for message in received]
        _modify(subscriber, subscription, ack_ids, LEASE_SECONDS)
        window.ack_ids.extend(ack_ids)
        for message in received:
            # A redelivery within the window (its first lease ran out) counts once.
            window.data.setdefault(message.message.message_id, bytes(message.message.data))
    return window


def acknowledge(subscriber: pubsub_v1.SubscriberClient, window: Window) -> None:
    for start in range(0, len(window.ack_ids), ACK_CHUNK):
        subscriber.acknowledge(
            subscription=window.subscription, ack_ids=window.ack_ids[start : start + ACK_CHUNK]
        )


def release(subscriber: pubsub_v1.SubscriberClient, window: Window) -> None:
    """Hand the window back for redelivery now (the job failed before its report)."""
    _modify(subscriber, window.subscription, window.ack_ids, 0)


def _modify(
    subscriber: pubsub_v1.SubscriberClient, subscription: str, ack_ids: list[str], seconds: int
) -> None:
    for start in range(0, len(ack_ids), ACK_CHUNK):
        subscriber.modify_ack_deadline(
            subscription=subscription,
            ack_ids=ack_ids[start : start + ACK_CHUNK],
            ack_deadline_seconds=seconds,
        )
