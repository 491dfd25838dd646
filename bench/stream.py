"""The stream and its floors: a burst of one-instance requests through the emulator's push
subscription into predict_stream, then the same burst into each floor under the same server:
`stream_floor`, an empty CloudEvent function, and `stream_correct_floor`
(bench/correct_floor.py), the least a correct handler does; trial for trial in turn.

A request's time runs from its publish to its result's publish_time (stamped by the
emulator), for predict_stream and the correct floor alike; the empty floor's, to the moment
it received the push. Nothing is pulled while a burst runs: all three are followed through
the functions' logs, and the results are pulled after, so the emulator serves the pushes and
their results' publishes and nothing else. The handlers' own latency is the `latency_ms`
each logs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from google.cloud import pubsub_v1

from bench.floor import RECEIVED
from bench.timing import median, percentile, rate
from infra import names
from infra.local.cloud import CloudConfig
from infra.local.system import LocalSystem
from infra.pulling import pull_once

MESSAGES = 1000
TRIALS = 3
# Before the first trial, each function gets a warm-up burst: the model is loaded, and the
# emulator's JVM has compiled its push and publish paths (without it the first trials run at
# half speed, and whichever went first would be measured slow). Before each trial: a little.
WARMUP_MESSAGES = 1000
TRIAL_WARMUP_MESSAGES = 20
TIMEOUT = 180.0
# What is measured, by its key in the results: the function the pushes go to.
SERVED = {
    "stream": "predict_stream",
    "stream_floor": "stream_floor",
    "stream_correct_floor": "stream_correct_floor",
}


def measure(system: LocalSystem, messages: int = MESSAGES, trials: int = TRIALS) -> dict[str, Any]:
    """{"stream": ..., "stream_floor": ..., "stream_correct_floor": ...}: medians over trials
    taken in turn, of the rig's three; and predict_stream's rate ÷ each floor's."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SERVED}
    with system.cloud.pubsub_clients() as (publisher, subscriber):
        burst = Burst(system.config, publisher, subscriber)
        for trial in range(-1, trials):  # -1: the warm-up round, nothing timed
            for name, function in SERVED.items():
                system.push_to(names.PREDICTION_REQUESTS_PUSH, function)
                log = system.children[function].log_path
                warmup = WARMUP_MESSAGES if trial < 0 else TRIAL_WARMUP_MESSAGES
                burst.run(function, f"{name}warmup{trial}", warmup, log)
                if trial >= 0:
                    runs[name].append(burst.run(function, f"{name}{trial}", messages, log))
        system.push_to(names.PREDICTION_REQUESTS_PUSH, "predict_stream")
    summaries: dict[str, Any] = {name: _summary(of, messages) for name, of in runs.items()}
    rate = summaries["stream"]["msgs_per_s"]
    for floor, key in (
        ("stream_floor", "stream_floor_ratio"),
        ("stream_correct_floor", "stream_correct_ratio"),
    ):
        reference = summaries[floor]["msgs_per_s"]
        summaries[key] = round(rate / reference, 3) if reference else None
    return summaries


class Burst:
    """Bursts of one-instance requests to prediction-requests, and their outcomes."""

    def __init__(
        self,
        config: CloudConfig,
        publisher: pubsub_v1.PublisherClient,
        subscriber: pubsub_v1.SubscriberClient,
    ) -> None:
        self._publisher = publisher
        self._subscriber = subscriber
        self._topic = config.topic_path(names.PREDICTION_REQUESTS)
        self._results = config.subscription_path(names.PREDICTION_RESULTS_SUB)
        self._run = uuid.uuid4().hex[:8]  # request ids of no earlier run, in the same logs

    def run(self, function: str, prefix: str, count: int, log: Path) -> dict[str, Any]:
        """A burst into function (the push subscription's endpoint already), timed."""
        if function == "stream_floor":
            return self.floor(prefix, count, log)
        return self.stream(prefix, count, log)

    def stream(self, prefix: str, count: int, log: Path) -> dict[str, Any]:
        """A burst into a function that publishes results and logs predict_stream's request
        line (predict_stream or stream_correct_floor)."""
        sent = self.publish(prefix, count)
        handled = _follow(log, sent, _handled)
        answered = self.results(sent)
        return {**_timing(sent, answered), "handler_ms": list(handled.values())}

    def floor(self, prefix: str, count: int, log: Path) -> dict[str, Any]:
        sent = self.publish(prefix, count)
        return _timing(sent, _follow(log, sent, _received))

    def publish(self, prefix: str, count: int) -> dict[str, float]:
        """Publish count one-instance requests at once; the wall-clock time each was sent."""
        sent: dict[str, float] = {}
        futures = []
        for index in range(count):
            request_id = f"{prefix}-{self._run}-{index:05d}"
            body = orjson.dumps({"instances": [[round((index % 200 - 100) / 1000, 3)]]})
            sent[request_id] = time.time()
            futures.append(self._publisher.publish(self._topic, body, request_id=request_id))
        for future in futures:
            future.result(timeout=60)
        return sent

    def results(self, sent: dict[str, float]) -> dict[str, float]:
        """The publish_time of the first result of each request sent, until all or TIMEOUT."""
        answered: dict[str, float] = {}
        deadline = time.monotonic() + TIMEOUT
        while len(answered) < len(sent) and time.monotonic() < deadline:
            for message in pull_once(self._subscriber, self._results, max_messages=1000):
                request_id = message.attributes["request_id"]
                if request_id in sent and request_id not in answered:
                    answered[request_id] = message.publish_time.timestamp()
        return answered


def _follow(
    log: Path, sent: dict[str, float], parse: Callable[[str], tuple[str, float] | None]
) -> dict[str, float]:
    """(request id → value) of the log lines about requests sent, until all or TIMEOUT."""
    found: dict[str, float] = {}
    deadline = time.monotonic() + TIMEOUT
    while len(found) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.2)
        for line in log.read_text(errors="replace").splitlines():
            parsed = parse(line)
            if parsed is not None and parsed[0] in sent:
                found.setdefault(*parsed)
    return found


def _received(line: str) -> tuple[str, float] | None:
    """stream_floor's line: the request id and when the push arrived."""
    mark, _, rest = line.partition(" ")
    request_id, _, when = rest.partition(" ")
    return (request_id, float(when)) if mark == RECEIVED else None


def _handled(line: str) -> tuple[str, float] | None:
    """A request line of predict_stream (or stream_correct_floor, which writes the same
    fields): the request id and the handler's own latency."""
    if not line.startswith("{"):
        return None
    record = json.loads(line)
    if "latency_ms" not in record or "request_id" not in record:
        return None
    return str(record["request_id"]), float(record["latency_ms"])


def _timing(sent: dict[str, float], answered: dict[str, float]) -> dict[str, Any]:
    latencies = [(answered[key] - sent[key]) * 1000 for key in answered]
    span = max(answered.values(), default=0.0) - min(sent.values())
    return {
        "answered": len(answered),
        "msgs_per_s": rate(len(answered), span),
        "p50_ms": median(latencies) if latencies else 0.0,
        "p99_ms": percentile(latencies, 99) if latencies else 0.0,
    }


def _summary(trials: list[dict[str, Any]], messages: int) -> dict[str, Any]:
    summary = {
        "messages": messages,
        "trials": len(trials),
        "answered": min(trial["answered"] for trial in trials),
        "msgs_per_s": round(median([trial["msgs_per_s"] for trial in trials]), 1),
        "p50_ms": round(median([trial["p50_ms"] for trial in trials]), 1),
        "p99_ms": round(median([trial["p99_ms"] for trial in trials]), 1),
        "msgs_per_s_trials": [round(trial["msgs_per_s"], 1) for trial in trials],
    }
    handler = [ms for trial in trials for ms in trial.get("handler_ms", [])]
    if handler:
        summary["handler_p50_ms"] = round(median(handler), 3)
        summary["handler_p99_ms"] = round(percentile(handler, 99), 3)
    return summary
