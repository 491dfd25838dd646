"""Generated stream requests through the running system, and what became of each.

Every message is published to prediction-requests with its own request_id attribute
(pushes whose data is not base64 go straight to predict_stream's push endpoint, as the
emulator would deliver them). Results and dead letters are pulled all along
(`soak.stream_ledger`) until every request id is found, and a little longer for late
duplicates, or the wait runs out: answered, dead-lettered or lost (docs/stream.md).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.cloud import pubsub_v1

from infra import names
from infra.local.serving import push_endpoint
from soak import loopback, stream_inputs
from soak.answers import Documented, stream_result_problem
from soak.drawing import for_each
from soak.stream_inputs import Message
from soak.stream_ledger import Collector, Ledger
from soak.system import System

WAIT = 150.0  # seconds for every request to be answered or dead-lettered
SETTLE = 5.0  # seconds of pulling on once all are found, for late duplicates
PUBLISH_TIMEOUT = 60.0
SAMPLES = 10


@dataclass
class Outcomes:
    """What became of the requests, by request id."""

    sent: dict[str, Message] = field(default_factory=dict)
    answered: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    dead_lettered: set[str] = field(default_factory=set)
    duplicates: int = 0
    differing_duplicates: int = 0
    undocumented: int = 0
    good_not_ok: int = 0
    samples: list[str] = field(default_factory=list)

    def missing(self) -> set[str]:
        return set(self.sent) - set(self.answered) - self.dead_lettered

    def take(self, ledger: Ledger, documented: Documented) -> None:
        """Every result and dead letter of the requests sent, in the order they were pulled."""
        for found in ledger.results.values():
            for received in found:
                self.result(received.data, received.attributes, documented)
        self.dead_lettered |= set(ledger.dead_letters) & set(self.sent)

    def result(self, data: bytes, attributes: dict[str, str], documented: Documented) -> None:
        request_id = attributes.get("request_id", "")
        if request_id not in self.sent:
            return  # not ours
        if request_id in self.answered:
            self.duplicates += 1
            self.differing_duplicates += self.answered[request_id] != (data, attributes)
            return
        self.answered[request_id] = (data, attributes)
        message = self.sent[request_id]
        problem = stream_result_problem(documented, data, attributes)
        if problem is not None:
            self.undocumented += 1
            self.note(f"{message.kind} {request_id}: {problem}")
        elif message.good and attributes.get("status") != "ok":
            self.good_not_ok += 1
            self.note(f"{message.kind} {request_id}: a good request got {data[:120]!r}")

    def note(self, text: str) -> None:
        """Keep text among the samples the figures show (the first SAMPLES)."""
        if len(self.samples) < SAMPLES:
            self.samples.append(text)

    def figures(self) -> dict[str, Any]:
        by_kind: dict[str, Counter[str]] = {}
        for request_id, message in self.sent.items():
            counts = by_kind.setdefault(message.kind, Counter())
            counts["sent"] += 1
            if request_id in self.answered:
                counts[self.answered[request_id][1].get("status", "?")] += 1
            elif request_id in self.dead_lettered:
                counts["dead_lettered"] += 1
            else:
                counts["lost"] += 1
        return {
            "requests": len(self.sent),
            "answered": len(self.answered),
            "answered_ok": sum(a.get("status") == "ok" for _, a in self.answered.values()),
            "answered_error": sum(a.get("status") == "error" for _, a in self.answered.values()),
            "dead_lettered": len(self.dead_lettered),
            "lost": len(self.missing()),
            "duplicates": self.duplicates,
            "differing_duplicates": self.differing_duplicates,
            "undocumented_results": self.undocumented,
            "good_not_ok": self.good_not_ok,
            "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
            "samples": self.samples,
        }


def flood(system: System, documented: Documented) -> dict[str, Any]:
    """Publish and push every generated request, then account for each; the figures."""
    began = time.monotonic()
    outcomes = Outcomes()
    project = system.cloud.config.project_id
    run = uuid.uuid4().hex[:8]
    collector = Collector(system.cloud).start()
    try:
        with system.cloud.pubsub_clients() as (publisher, _):
            refused = _publish_all(
                publisher, publisher.topic_path(project, names.PREDICTION_REQUESTS), run, outcomes
            )
        pushes = _push_all(system, run, outcomes)
        published_in = time.monotonic() - began
        collector.wait_for(outcomes.sent, WAIT, SETTLE)
    finally:
        ledger = collector.stop()
    outcomes.take(ledger, documented)
    return {
        **outcomes.figures(),
        "publish_refused": refused,
        "raw_pushes": pushes,
        "raw_pushes_5xx": server_errors(pushes),
        "published_seconds": round(published_in, 1),
        "seconds": round(time.monotonic() - began, 1),
    }


def _publish_all(
    publisher: pubsub_v1.PublisherClient, topic: str, run: str, outcomes: Outcomes
) -> int:
    """Publish every drawn message; how many Pub/Sub refused (they are not requests)."""
    futures: dict[str, Future[str]] = {}

    def publish(message: Message) -> None:
        request_id = f"bad-{run}-{len(outcomes.sent):05d}"
        outcomes.sent[request_id] = message
        attributes = {**message.attributes, "request_id": request_id}
        futures[request_id] = publisher.publish(topic, message.data, **attributes)

    for strategy, count in stream_inputs.KINDS.values():
        for_each(strategy, count, publish)
    for message in stream_inputs.oversized():
        publish(message)
    refused = 0
    for request_id, future in futures.items():
        try:
            future.result(timeout=PUBLISH_TIMEOUT)
        except Exception as error:  # refused by Pub/Sub: never a request
            refused += 1
            outcomes.note(f"publish refused {request_id}: {type(error).__name__}: {error}")
            del outcomes.sent[request_id]
    return refused


def _push_all(system: System, run: str, outcomes: Outcomes) -> dict[str, int]:
    """Raw pushes whose data is not base64; the statuses predict_stream answered."""
    url = push_endpoint(
        system.url("predict_stream"), system.cloud.config.project_id, names.PREDICTION_REQUESTS
    )
    statuses: Counter[str] = Counter()
    numbers = itertools.count()
    session = loopback.session()

    def push(data: Any) -> None:
        request_id = f"push-{run}-{next(numbers):05d}"
        envelope = {
            "message": {
                "data": data,
                "attributes": {"request_id": request_id},
                "messageId": request_id,
                "publishTime": "2026-11-29T00:00:00.000Z",
            },
            "subscription": f"projects/{system.cloud.config.project_id}/subscriptions/soak-push",
        }
        answer = session.post(
            url,
            data=orjson.dumps(envelope),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        statuses[str(answer.status_code)] += 1
        if answer.ok:
            outcomes.sent[request_id] = Message("bad_base64", b"")
        else:
            outcomes.note(
                f"push {request_id} of {data!r:.40}: {answer.status_code} {answer.text[:80]}"
            )

    with session:
        for_each(stream_inputs.PUSH_DATA, stream_inputs.PUSHES, push)
    return dict(statuses)


def server_errors(statuses: dict[str, int]) -> int:
    """How many answers, counted by status, were 5xx."""
    return sum(count for status, count in statuses.items() if int(status) >= 500)
