"""soak/concurrent_uploads.py: each upload's event collected, redeliveries or not."""

from __future__ import annotations

import time

from soak.concurrent_uploads import first_events


def source(*batches: list[dict]):
    """pull(count, seconds) answering batch after batch, then nothing until seconds passed."""
    pending = list(batches)
    asked: list[int] = []

    def pull(count: int, seconds: float) -> list[dict]:
        asked.append(count)
        if pending:
            return pending.pop(0)
        time.sleep(min(seconds, 0.05))  # the bounded wait of a pull that found nothing
        return []

    return pull, asked


def test_a_redelivered_event_does_not_stand_in_for_another_upload():
    first_a, again_a = {"dataset": "a", "version": 2}, {"dataset": "a", "version": 2}
    pull, asked = source([first_a, again_a], [{"dataset": "b", "version": 3}])
    found = first_events(pull, {"a", "b"}, timeout=5)
    assert found == {"a": first_a, "b": {"dataset": "b", "version": 3}}
    assert asked == [2, 1]  # asked again for the one still missing


def test_it_gives_up_at_the_timeout_with_what_came():
    pull, _ = source([{"dataset": "a"}])
    began = time.monotonic()
    assert first_events(pull, {"a", "b"}, timeout=0.3) == {"a": {"dataset": "a"}}
    assert time.monotonic() - began < 2
