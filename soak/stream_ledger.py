"""Everything the stream answered: every result and dead letter pulled while the soak runs,
by request id, until each id is accounted for or a bounded wait ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
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

    def result(self) -> dict[str, Any] | None:
        """The data as a JSON object; None when it is not one (a malformed result)."""
        try:
            document = orjson.loads(self.data)
        except orjson.JSONDecodeError:
            return None
        return document if isinstance(document, dict) else None


@dataclass
class Ledger:
    results: dict[str, list[Received]] = field(default_factory=dict)
    dead_letters: dict[str, list[Received]] = field(default_factory=dict)
    unattributed: int = 0  # messages without a request_id attribute

    def accounted(self) -> set[str]:
        return set(self.results) | set(self.dead_letters)

    def add(self, into: dict[str, list[Received]], message: Any) -> str | None:
        """Record message in into (results or dead_letters); its request id, if it has one."""
        attributes: dict[str, str] = dict(message.attributes)
        request_id = attributes.get("request_id")
        if request_id is None:
            self.unattributed += 1
            return None
        received = Received(message.publish_time.timestamp(), attributes, bytes(message.data))
        into.setdefault(request_id, []).append(received)
        return request_id

    def copy(self) -> Ledger:
        return Ledger(
            {i: list(found) for i, found in self.results.items()},
            {i: list(found) for i, found in self.dead_letters.items()},
            self.unattributed,
        )


class Collector:
    """Pulls prediction-results-sub and prediction-dead-letter-sub on a thread of its own."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.ledger = Ledger()  # read it through stop(), which copies it under the lock
        self._cloud = cloud
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified when an awaited id comes
        self._awaited: set[str] = set()  # ids wait_for still waits for
        self._last_awaited_at = 0.0  # wall clock: when an awaited id last came
        self._thread = threading.Thread(target=self._run, name="stream-ledger", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> Collector:
        self._thread.start()
        return self

    def wait_for(self, request_ids: Collection[str], timeout: float, settle: float) -> float:
        """Until every id has a result or a dead letter, then settle seconds more for late
        duplicates, all within timeout; the wall-clock time the last of the ids was accounted
        for (on a timeout, the last of those that were; ids already in count from the call)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._awaited = set(request_ids) - self.ledger.accounted()
            self._last_awaited_at = time.time()
            self._wait_while(lambda: bool(self._awaited), deadline)
            done = self._last_awaited_at
            self._awaited = set()
            settle_until = min(deadline, time.monotonic() + settle)
            self._wait_while(lambda: True, settle_until)
        self._check()
        return done

    def stop(self) -> Ledger:
        """Stop pulling; a copy of the ledger (the thread may outlive a join that timed out)."""
        self._stop.set()
        self._thread.join(timeout=_PULL_TIMEOUT * 3)
        self._check()
        with self._lock:
            return self.ledger.copy()

    def record(self, into: dict[str, list[Received]], messages: Iterable[Any]) -> None:
        """Add pulled messages to the ledger (into: its results or dead_letters); wake
        wait_for when the last awaited id is among them."""
        with self._changed:
            for message in messages:
                request_id = self.ledger.add(into, message)
                if request_id in self._awaited:
                    self._awaited.discard(request_id)
                    self._last_awaited_at = time.time()
            if not self._awaited:
                self._changed.notify_all()

    def _wait_while(self, condition: Callable[[], bool], until: float) -> None:
        """With the lock held: wait while condition() holds, until the monotonic time until
        or until the pulling thread failed."""
        while condition() and self._error is None and (left := until - time.monotonic()) > 0:
            self._changed.wait(left)

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
                        self.record(into, pull_once(subscriber, path, None, _BATCH, _PULL_TIMEOUT))
        except BaseException as error:  # reported to the scenario's thread by _check
            with self._changed:
                self._error = error
                self._changed.notify_all()
