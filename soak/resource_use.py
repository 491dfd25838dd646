"""Scenario "resources": every function under steady mixed load for DURATION seconds, its
processes sampled each second (soak.resources); issue item 5, README "What it survives".

Warm-up is the first third of the run: in it every kind of work happens at least once (the
upload retrain trains on, two drift windows, the first requests of both transports), so
imports, the model cache and lazy clients are in place by its end. Targets, per process:

- RSS flat: every sample after warm-up within ±RSS_TOLERANCE of the first one after it;
- open fds and threads bounded: the last third's maximum at most the middle third's
  maximum plus FD_SLACK / THREAD_SLACK (no growth trend), and never above FD_CAP /
  THREAD_CAP after warm-up.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from soak.outcome import Outcome
from soak.resources import Sample, by_process, summary
from soak.steady_load import SteadyLoad
from soak.system import running

DURATION = 150.0
WARMUP = DURATION / 3
RSS_TOLERANCE = 0.10
FD_SLACK = 8
THREAD_SLACK = 4
FD_CAP = 256
THREAD_CAP = 64
UPLOAD_AT = 2.0
DRIFT_AT = (10.0, 35.0, 75.0, 110.0, 145.0)
# Seconds of pulling after the load: the last stream results, and every model event of the
# upload (retrain's, published long before; pulling on lets a redelivered second one show).
SETTLE = 30.0


def run() -> Outcome:
    outcome = Outcome()
    with running("resources") as system:
        assert system.sampler is not None
        load = SteadyLoad(system)
        began = time.monotonic()
        offset = system.sampler.elapsed()  # the sampler's clock when the load began
        load.start()
        schedule: list[tuple[float, Callable[[], None]]] = [(UPLOAD_AT, load.upload)]
        schedule += [(at, load.drift) for at in DRIFT_AT]
        for at, action in sorted(schedule, key=lambda item: item[0]):
            _until(began + at)
            action()
        _until(began + DURATION)
        load.stop()
        samples = _during(system.sampler.samples(), offset, DURATION)
        load.settle(SETTLE)
    counts = load.counts
    outcome.figures = {
        "seconds": DURATION,
        "warmup_seconds": WARMUP,
        "load": {
            "http": dict(counts.http),
            "stream_published": counts.stream_published,
            "stream_answered": len(counts.stream_answered),
            "drift_windows": dict(counts.drift),
            "model_events": counts.model_events,
        },
        "resources": summary(samples, warmup_end=WARMUP),
    }
    _expect_served(outcome, load)
    expect_flat(outcome, samples)
    return outcome


def _during(samples: list[Sample], offset: float, duration: float) -> list[Sample]:
    """The samples taken under load, their seconds counted from the load's start."""
    return [
        dataclasses.replace(s, seconds=s.seconds - offset)
        for s in samples
        if offset <= s.seconds <= offset + duration
    ]


def _until(moment: float) -> None:
    """Wait for a moment of the schedule (pacing, not standing in for a condition)."""
    time.sleep(max(0.0, moment - time.monotonic()))


def _expect_served(outcome: Outcome, load: SteadyLoad) -> None:
    counts = load.counts
    http_failed = sum(n for status, n in counts.http.items() if status != "200")
    outcome.expect(sum(counts.http.values()) > 0 and http_failed == 0, "every HTTP request 200")
    outcome.expect(
        len(counts.stream_answered) == counts.stream_published > 0,
        "every stream request answered",
    )
    outcome.expect(set(counts.drift) == {"200"}, "every drift window 200")
    outcome.expect(
        len(counts.model_events) == 1,
        f"retrain published one outcome of the upload ({counts.model_events})",
    )


def expect_flat(outcome: Outcome, samples: list[Sample]) -> None:
    """Each process's targets (the module's docstring), from samples timed from the load's
    start."""
    for (function, pid), taken in sorted(by_process(samples).items()):
        name = f"{function} {taken[0].role} {pid}"
        after = [s for s in taken if s.seconds >= WARMUP]
        middle = [s for s in after if s.seconds < 2 * WARMUP]
        last = [s for s in after if s.seconds >= 2 * WARMUP]
        if not outcome.expect(bool(middle and last), f"{name}: sampled through the run"):
            continue
        reference = after[0].rss_kib
        spread = max(abs(s.rss_kib - reference) for s in after) / reference
        outcome.expect(
            spread <= RSS_TOLERANCE,
            f"{name}: RSS within {RSS_TOLERANCE:.0%} after warm-up (off by {spread:.1%})",
        )
        for measure, slack, cap in (
            ("fds", FD_SLACK, FD_CAP),
            ("threads", THREAD_SLACK, THREAD_CAP),
        ):
            middle_max = max(getattr(s, measure) for s in middle)
            last_max = max(getattr(s, measure) for s in last)
            outcome.expect(
                last_max <= middle_max + slack,
                f"{name}: {measure} not growing (last third max {last_max}, middle "
                f"{middle_max}, slack {slack})",
            )
            highest = max(getattr(s, measure) for s in after)
            outcome.expect(
                highest <= cap, f"{name}: {measure} at most {cap} after warm-up (max {highest})"
            )
