"""A burst through Pub/Sub: publish N requests at once to prediction-requests, whose push
subscription feeds predict_stream; time each from its publish to its result's publish_time
(stamped by the emulator, so pulling the results in batches adds nothing)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from google.api_core import exceptions as api_exceptions
from google.cloud import pubsub_v1

from bench.timing import median, percentile, rate
from infra import names
from infra.local.cloud import LocalCloud

MESSAGES = 1000
WARMUP_MESSAGES = 10  # the first request loads the model: not part of the burst
TIMEOUT = 180.0
RESULTS_SUBSCRIPTION = names.PREDICTION_RESULTS_SUB


def measure(cloud: LocalCloud, messages: int = MESSAGES) -> dict[str, Any]:
    project = cloud.config.project_id
    with cloud.pubsub_clients() as (publisher, subscriber):
        topic = publisher.topic_path(project, names.PREDICTION_REQUESTS)
        results = subscriber.subscription_path(project, RESULTS_SUBSCRIPTION)
        _results(subscriber, results, _publish(publisher, topic, "warmup", WARMUP_MESSAGES))
        sent = _publish(publisher, topic, "burst", messages)
        answered = _results(subscriber, results, sent)
    latencies = [(answered[key] - sent[key]) * 1000 for key in answered]
    span = max(answered.values()) - min(sent.values())
    return {
        "messages": messages,
        "answered": len(answered),
        "msgs_per_s": round(rate(len(answered), span), 1),
        "p50_ms": round(median(latencies), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
    }


def _publish(
    publisher: pubsub_v1.PublisherClient, topic: str, prefix: str, count: int
) -> dict[str, float]:
    """Publish count one-instance requests at once; the wall-clock time each was sent."""
    sent: dict[str, float] = {}
    futures = []
    for index in range(count):
        request_id = f"{prefix}-{index:05d}"
        body = orjson.dumps({"instances": [[round((index % 200 - 100) / 1000, 3)]]})
        sent[request_id] = time.time()
        futures.append(publisher.publish(topic, body, request_id=request_id))
    for future in futures:
        future.result(timeout=60)
    return sent


def _results(
    subscriber: pubsub_v1.SubscriberClient, subscription: str, sent: dict[str, float]
) -> dict[str, float]:
    """The publish_time of the first result of each request sent, until all or TIMEOUT."""
    answered: dict[str, float] = {}
    deadline = time.monotonic() + TIMEOUT
    while len(answered) < len(sent) and time.monotonic() < deadline:
        try:
            response = subscriber.pull(subscription=subscription, max_messages=1000, timeout=5)
        except api_exceptions.DeadlineExceeded:
            continue
        if not response.received_messages:
            continue
        subscriber.acknowledge(
            subscription=subscription, ack_ids=[m.ack_id for m in response.received_messages]
        )
        for received in response.received_messages:
            request_id = received.message.attributes["request_id"]
            if request_id in sent and request_id not in answered:
                answered[request_id] = received.message.publish_time.timestamp()
    return answered
