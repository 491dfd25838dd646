"""Repeated timings and the statistics reported from them."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence


def repeat(
    call: Callable[[], object], min_trials: int, min_seconds: float, max_trials: int = 10_000
) -> list[float]:
    """Seconds of each call: at least min_trials calls, and more until min_seconds passed."""
    durations: list[float] = []
    began = time.perf_counter()
    while len(durations) < max_trials and (
        len(durations) < min_trials or time.perf_counter() - began < min_seconds
    ):
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    return durations


def throughput(
    call: Callable[[], object], items: int, trials: int, trial_seconds: float
) -> list[float]:
    """items per second of each trial; a trial calls repeatedly until trial_seconds passed,
    so pauses that hit some calls only (garbage collection, a refresh) count as they would
    for a client sending request after request."""
    rates = []
    for _ in range(trials):
        calls = 0
        began = time.perf_counter()
        while calls == 0 or time.perf_counter() - began < trial_seconds:
            call()
            calls += 1
        rates.append(rate(items * calls, time.perf_counter() - began))
    return rates


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile q (0 < q ≤ 100) of values."""
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return float(ordered[rank - 1])


def rate(count: int, seconds: float) -> float:
    """count per second, 0 when no time passed."""
    return count / seconds if seconds > 0 else 0.0
