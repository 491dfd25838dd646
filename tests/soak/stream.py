"""The stream soak's requests, and everything the stream answered.

Requests: good ones in every body form docs/http.md allows, and poison that can never be
served, each kind with the outcome docs/stream.md promises for it. Answers: every result
and dead letter, pulled on a thread of its own while the soak runs, by request id.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from infra import names
from infra.local.system import LocalSystem
from infra.pulling import pull_once

# Every POISON_EVERY-th request is poison (5%), its kind taken in turn from POISON.
POISON_EVERY = 20
DEAD_LETTER = "dead-letter"
_PULL_TIMEOUT = 2.0


@dataclass(frozen=True)
class Poison:
    """A request that can never be served, and how the design answers it: an error result
    with this code (an invalid request, acknowledged at once), or DEAD_LETTER (a failure
    Pub/Sub retries until the dead-letter policy takes it)."""

    kind: str
    outcome: int | str
    body: bytes = b'{"instances": [[0.01]]}'
    attributes: dict[str, str] = field(default_factory=dict)


POISON = (
    Poison("bad_json", 400, b'{"instances": [[0.01]'),
    Poison("wrong_shape", 400, b'{"instances": [[0.01, 0.02]]}'),  # for a one-feature model
    Poison("unsupported_content_type", 415, attributes={"content_type": "application/xml"}),
    Poison("broken_gzip", 400, b"\x1f\x8b\x08\x00 no gzip after", {"content_encoding": "gzip"}),
    Poison("unknown_version", 404, attributes={"version": "999"}),
    # Pinned to a version whose model.json was altered after registration: its integrity
    # check refuses it on every load (503), so it is retried until dead-lettered.
    Poison("tampered_version", DEAD_LETTER),
)


@dataclass(frozen=True)
class StreamRequest:
    request_id: str
    data: bytes
    attributes: dict[str, str]
    rows: tuple[tuple[float, ...], ...] = ()  # a good request's instances
    poison: Poison | None = None

    @property
    def expected(self) -> str:
        """ "ok", "error <code>" or DEAD_LETTER."""
        if self.poison is None:
            return "ok"
        outcome = self.poison.outcome
        return outcome if isinstance(outcome, str) else f"error {outcome}"


def generate(count: int, run: str, feature: str, tampered_version: int) -> list[StreamRequest]:
    """count requests with ids unique to run, for a one-feature model of feature: good ones
    with one to three instances as JSON lists, JSON objects, CSV or gzip-compressed JSON."""
    values = np.random.default_rng(11).normal(0.0, 0.05, 3 * count).round(6).tolist()
    requests = []
    for index in range(count):
        request_id = f"sf-{run}-{index:05d}"
        attributes = {"request_id": request_id}
        if index % POISON_EVERY == POISON_EVERY - 1:
            poison = POISON[(index // POISON_EVERY) % len(POISON)]
            attributes |= poison.attributes
            if poison.outcome == DEAD_LETTER:
                attributes["version"] = str(tampered_version)
            requests.append(StreamRequest(request_id, poison.body, attributes, poison=poison))
            continue
        rows = tuple((values[3 * index + n],) for n in range(1 + index % 3))
        body = orjson.dumps({"instances": [list(row) for row in rows]})
        form = index % 4
        if form == 1:
            body = orjson.dumps({"instances": [{feature: row[0]} for row in rows]})
        elif form == 2:
            body = "".join(f"{row[0]!r}\n" for row in rows).encode()
            attributes["content_type"] = "text/csv"
        elif form == 3:
            body = gzip.compress(body, mtime=0)
            attributes["content_encoding"] = "gzip"
        requests.append(StreamRequest(request_id, body, attributes, rows))
    return requests


@dataclass(frozen=True)
class Received:
    """One message as pulled: when Pub/Sub stamped it published, its attributes and data."""

    published: float
    attributes: dict[str, str]
    data: bytes

    def result(self) -> dict[str, Any] | None:
        """The data as a JSON object; None when it is not one (a malformed result)."""
        try:
            document = orjson.loads(self.data)
        except orjson.JSONDecodeError:
            return None
        return document if isinstance(document, dict) else None


class Collector:
    """Every result and dead letter of system's stream by request id, pulled from
    prediction-results-sub and prediction-dead-letter-sub on a thread of its own until
    stop()."""

    def __init__(self, system: LocalSystem) -> None:
        self.results: dict[str, list[Received]] = {}
        self.dead_letters: dict[str, list[Received]] = {}
        self.accounted_at: dict[str, float] = {}  # when each id was first answered
        self.unattributed = 0  # messages without a request_id attribute
        self._system = system
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="stream-results", daemon=True)
        self._thread.start()

    def wait_for(self, request_ids: Collection[str], timeout: float, settle: float) -> float:
        """Until every id has a result or a dead letter (at most timeout seconds), then settle
        seconds more for late duplicates; when the last of them was first answered."""
        deadline = time.monotonic() + timeout
        while self._error is None and time.monotonic() < deadline:
            with self._lock:
                if all(i in self.accounted_at for i in request_ids):
                    break
            time.sleep(0.2)  # the collector's thread fills in the answers
        time.sleep(max(0.0, min(settle, deadline - time.monotonic())))
        self._check()
        with self._lock:
            return max((self.accounted_at.get(i, 0.0) for i in request_ids), default=0.0)

    def stop(self) -> Collector:
        self._stop.set()
        self._thread.join(timeout=_PULL_TIMEOUT * 3)
        self._check()
        return self

    def _check(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"the collector failed: {self._error}") from self._error

    def _run(self) -> None:
        config = self._system.config
        sources = [
            (config.subscription_path(names.PREDICTION_RESULTS_SUB), self.results),
            (config.subscription_path(names.PREDICTION_DEAD_LETTER_SUB), self.dead_letters),
        ]
        try:
            with self._system.cloud.pubsub_clients() as (_, subscriber):
                while not self._stop.is_set():
                    for path, into in sources:
                        messages = pull_once(subscriber, path, None, 1000, _PULL_TIMEOUT)
                        with self._lock:
                            for message in messages:
                                self._add(into, message)
        except BaseException as error:  # reported to the scenario's thread by _check
            self._error = error

    def _add(self, into: dict[str, list[Received]], message: Any) -> None:
        attributes: dict[str, str] = dict(message.attributes)
        request_id = attributes.get("request_id")
        if request_id is None:
            self.unattributed += 1
            return
        received = Received(message.publish_time.timestamp(), attributes, bytes(message.data))
        into.setdefault(request_id, []).append(received)
        self.accounted_at.setdefault(request_id, time.time())
