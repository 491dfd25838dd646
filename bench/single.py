"""One-instance requests against predict_batch and the framework floor, interleaved.

Each trial of one server is followed by the same trial of the other, so drift of the
machine (another process, thermal state) weighs on both alike.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.load import LoadGenerator, LoadResult
from bench.timing import median

CONCURRENCY = (1, 8, 32)
PATH = "/predict"


@dataclass(frozen=True)
class Plan:
    # Short trials, many of them, in turn with the floor's: the host's speed drifts over
    # seconds, and a median of six pairs shrugs off a slow spell that one of three would not.
    trials: int = 6
    seconds: float = 3.0
    warmup_seconds: float = 2.0
    concurrency: Sequence[int] = CONCURRENCY


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """--trials and --seconds, a Plan's, for every command that runs one."""
    default = Plan()
    parser.add_argument(
        "--trials", type=int, default=default.trials, help=f"trials per point ({default.trials})"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=default.seconds,
        help=f"seconds per trial ({default.seconds:g})",
    )


def measure(
    generator: LoadGenerator, urls: Mapping[str, str], plan: Plan
) -> dict[str, dict[str, Any]]:
    """For each named server, the median over trials at each concurrency."""
    runs: dict[str, list[list[LoadResult]]] = {name: [] for name in urls}
    for connections in plan.concurrency:
        for url in urls.values():
            generator.run(url + PATH, connections, plan.warmup_seconds)
        trials: dict[str, list[LoadResult]] = {name: [] for name in urls}
        for trial in range(plan.trials):
            # Every other trial in reverse order: no server always runs right after another.
            order = list(urls.items())
            for name, url in order if trial % 2 == 0 else reversed(order):
                trials[name].append(generator.run(url + PATH, connections, plan.seconds))
        for name in urls:
            runs[name].append(trials[name])
    return {name: _summary(plan.concurrency, runs[name]) for name in urls}


def _summary(concurrency: Sequence[int], per_level: list[list[LoadResult]]) -> dict[str, Any]:
    return {
        "concurrency": list(concurrency),
        "req_per_s": [round(median([r.req_per_s for r in rs]), 1) for rs in per_level],
        "p50_ms": [round(median([r.p50_ms for r in rs]), 3) for rs in per_level],
        "p99_ms": [round(median([r.p99_ms for r in rs]), 3) for rs in per_level],
        "errors": [sum(r.errors for r in rs) for rs in per_level],
        # Every trial, so the spread (a noisy neighbour, a slow phase) stays visible.
        "req_per_s_trials": [[round(r.req_per_s, 1) for r in rs] for rs in per_level],
    }
