"""The run ledger against fake-gcs-server: one owner per upload, takeover, one outcome."""

from __future__ import annotations

import pytest

from model.run_ledger import RunInProgress, RunLedger, RunLost, run_path

pytestmark = pytest.mark.emulators
PATH = run_path("m", "datasets/m/incoming/a b.csv", 42)
DATASET = "gs://b/datasets/m/incoming/a b.csv#42"


class Clock:
    """Wall-clock time under the test's control: leases expire without waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def ledger(gcs, bucket, clock, lease: float = 30.0) -> RunLedger:
    return RunLedger(gcs, bucket, lease_seconds=lease, clock=clock)


def test_the_record_is_one_object_per_object_generation():
    assert PATH == "models/m/runs/datasets%2Fm%2Fincoming%2Fa%20b.csv#42.json"


def test_a_live_owner_keeps_the_run(gcs, bucket, clock):
    first = ledger(gcs, bucket, clock).claim(PATH, DATASET)
    assert (first.done, first.version, first.resumed) == (False, None, False)
    clock.now += 10  # within the lease
    with pytest.raises(RunInProgress, match="another attempt is working on gs://b/"):
        ledger(gcs, bucket, clock).claim(PATH, DATASET, wait_seconds=0)


def test_a_silent_owner_is_taken_over_and_stopped_at_its_next_step(gcs, bucket, clock):
    dead, alive = ledger(gcs, bucket, clock), ledger(gcs, bucket, clock)
    claim = dead.claim(PATH, DATASET)
    claim = dead.heartbeat(claim, version=7)
    clock.now += 31  # silent for longer than the lease
    taken = alive.claim(PATH, DATASET)
    assert (taken.resumed, taken.version) == (True, 7)
    with pytest.raises(RunLost):
        dead.heartbeat(claim)
    with pytest.raises(RunLost):
        dead.finish(claim, {"event": "promoted"})
    assert alive.finish(taken, {"event": "rejected"}) == {"event": "rejected"}


def test_a_finished_run_returns_its_outcome_to_every_later_claim(gcs, bucket, clock):
    owner = ledger(gcs, bucket, clock)
    owner.finish(owner.claim(PATH, DATASET), {"event": "invalid_data", "reasons": ["x"]})
    clock.now += 3600
    again = ledger(gcs, bucket, clock).claim(PATH, DATASET)
    assert again.done
    assert again.outcome == {"event": "invalid_data", "reasons": ["x"]}


def test_when_two_attempts_finish_the_first_outcome_wins(gcs, bucket, clock):
    slow, fast = ledger(gcs, bucket, clock), ledger(gcs, bucket, clock)
    stale = slow.claim(PATH, DATASET)
    clock.now += 31
    fast.finish(fast.claim(PATH, DATASET), {"event": "promoted", "version": 2})
    assert slow.finish(stale, {"event": "promoted", "version": 3}) == {
        "event": "promoted",
        "version": 2,
    }
