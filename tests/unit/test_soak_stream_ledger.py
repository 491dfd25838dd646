"""soak/stream_ledger.py: what the collector records, and when wait_for says the ids came."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from soak.stream_ledger import Collector, Ledger, Received


def message(request_id: str | None, data: bytes = b'{"status": "ok"}') -> SimpleNamespace:
    attributes = {} if request_id is None else {"request_id": request_id}
    return SimpleNamespace(attributes=attributes, publish_time=datetime.now(UTC), data=data)


def collector() -> Collector:
    return Collector(cloud=None)  # never started: the test records as the pulling thread would


def test_wait_for_answers_when_the_last_id_came_not_when_it_returned():
    ids = collector()
    recorded_at: list[float] = []

    def answer_later() -> None:
        time.sleep(0.3)  # a result arriving while wait_for waits
        ids.record(ids.ledger.results, [message("a"), message("b")])
        recorded_at.append(time.time())

    threading.Thread(target=answer_later).start()
    done = ids.wait_for({"a", "b"}, timeout=10, settle=0.5)
    returned = time.time()
    assert done <= recorded_at[0]
    assert returned - done >= 0.4  # the settle time is not in it


def test_on_a_timeout_it_is_when_the_last_of_the_ids_that_came_came():
    ids = collector()
    before = time.time()
    ids.record(ids.ledger.results, [message("a")])
    done = ids.wait_for({"a", "b"}, timeout=0.5, settle=0)
    assert time.time() - before >= 0.5
    assert done - before < 0.3  # "a" was already there; "b" never came


def test_a_duplicate_during_the_settle_time_is_recorded():
    ids = collector()
    ids.record(ids.ledger.results, [message("a")])

    def redeliver() -> None:
        time.sleep(0.2)
        ids.record(ids.ledger.results, [message("a")])

    threading.Thread(target=redeliver).start()
    ids.wait_for({"a"}, timeout=5, settle=1.0)
    assert len(ids.ledger.results["a"]) == 2


def test_messages_without_a_request_id_are_counted_and_a_copy_is_apart():
    ledger = Ledger()
    assert ledger.add(ledger.dead_letters, message(None)) is None
    assert ledger.add(ledger.dead_letters, message("x")) == "x"
    copied = ledger.copy()
    ledger.dead_letters["x"].append(ledger.dead_letters["x"][0])
    assert (copied.unattributed, len(copied.dead_letters["x"])) == (1, 1)


def test_a_result_that_is_not_a_json_object_is_none():
    assert Received(0.0, {}, b'{"status": "ok"}').result() == {"status": "ok"}
    assert Received(0.0, {}, b"not json").result() is None
    assert Received(0.0, {}, b"[1]").result() is None
