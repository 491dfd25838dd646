"""soak/resource_use.py: the resource targets of each process, from its samples."""

from __future__ import annotations

from soak.outcome import Outcome
from soak.resource_use import DURATION, FD_CAP, WARMUP, expect_flat
from soak.resources import Sample


def run(fds_at: dict[int, int] | None = None, rss_at: dict[int, int] | None = None) -> Outcome:
    """One worker sampled each second of the run: 100 MiB, 20 fds, 10 threads, but for
    the seconds given."""
    samples = [
        Sample(
            float(second),
            "f",
            7,
            "worker",
            (rss_at or {}).get(second, 100 * 1024),
            (fds_at or {}).get(second, 20),
            10,
        )
        for second in range(int(DURATION))
    ]
    outcome = Outcome()
    expect_flat(outcome, samples)
    return outcome


def test_a_steady_process_meets_every_target():
    assert run().misses == []


def test_fds_above_the_cap_in_the_middle_third_are_a_miss():
    middle = int(WARMUP) + 5
    outcome = run(fds_at={middle: FD_CAP + 1})
    assert any(f"fds at most {FD_CAP}" in miss for miss in outcome.misses)


def test_fds_growing_in_the_last_third_are_a_miss():
    last = int(2 * WARMUP) + 5
    outcome = run(fds_at={last: 40})
    assert [miss for miss in outcome.misses if "not growing" in miss]


def test_rss_growing_after_warm_up_is_a_miss():
    outcome = run(rss_at={int(DURATION) - 1: 120 * 1024})
    assert any("RSS within" in miss for miss in outcome.misses)
