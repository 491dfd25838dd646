"""Everything the stream answered: every result and dead letter pulled while the soak runs,
by request id, until each id is accounted for or a bounded wait ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import orjson

from infra import names
from infra.local.cloud import LocalCloud
from infra.pulling import pull_once

_PULL_TIMEOUT = 2.0
_BATCH = 1000


@dataclass(frozen=True)
class Received:
    """One message as pulled: when Pub/Sub stamped it published, its attributes and data."""

    published: float
    attributes: dict[str, str]
    data: bytes

    def result(self) -> dict[str, Any]:
        document: dict[str, Any] = orjson.loads(self.data)
        return document


@dataclass
class Ledger:
    results: dict[str, list[Received]] = field(default_factory=dict)
    dead_letters: dict[str, list[Received]] = field(default_factory=dict)
    unattributed: int = 0  # messages without a request_id attribute

    def accounted(self) -> set[str]:
        return set(self.results) | set(self.dead_letters)

    def add(self, into: dict[str, list[Received]], message: Any) -> None:
        attributes = dict(message.attributes)
        request_id = attributes.get("request_id")
        if request_id is None:
            self.unattributed += 1
            return
        received = Received(message.publish_time.timestamp(), attributes, bytes(message.data))
        into.setdefault(request_id, []).append(received)


class Collector:
    """Pulls prediction-results-sub and prediction-dead-letter-sub on a thread of its own."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.ledger = Ledger()
        self._cloud = cloud
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="stream-ledger", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> Collector:
        self._thread.start()
        return self

    def wait_for(self, request_ids: Collection[str], timeout: float, settle: float) -> float:
        """Until every id has a result or a dead letter, then settle seconds more for late
        duplicates, or timeout; the wall-clock time the last id was accounted for."""
        deadline = time.monotonic() + timeout
        wanted = set(request_ids)
        while time.monotonic() < deadline and not wanted <= self.snapshot_ids():
            self._check()
            time.sleep(0.2)
        done = time.time()
        settle_until = min(deadline, time.monotonic() + settle)
        while time.monotonic() < settle_until:
            self._check()
            time.sleep(0.2)
        return done

    def snapshot_ids(self) -> set[str]:
        with self._lock:
            return self.ledger.accounted()

    def stop(self) -> Ledger:
        self._stop.set()
        self._thread.join(timeout=_PULL_TIMEOUT * 3)
        self._check()
        return self.ledger

    def _check(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"the collector failed: {self._error}") from self._error

    def _run(self) -> None:
        project = self._cloud.config.project_id
        try:
            with self._cloud.pubsub_clients() as (_, subscriber):
                sources = [
                    (subscriber.subscription_path(project, sub), into)
                    for sub, into in (
                        (names.PREDICTION_RESULTS_SUB, self.ledger.results),
                        (names.PREDICTION_DEAD_LETTER_SUB, self.ledger.dead_letters),
                    )
                ]
                while not self._stop.is_set():
                    for path, into in sources:
                        messages = pull_once(subscriber, path, None, _BATCH, _PULL_TIMEOUT)
                        with self._lock:
                            for message in messages:
                                self.ledger.add(into, message)
        except BaseException as error:  # reported to the scenario's thread by _check
            self._error = error
