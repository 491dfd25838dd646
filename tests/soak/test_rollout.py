"""Scenario "rollout": four keep-alive clients post to predict_batch throughout, each request
with a fresh id. Meanwhile `mlctl rollout` sends 30% to a candidate, aborts, sends 30% again
and promotes it (docs/rollout.md). Targets: no failed request; once the split is followed,
the candidate's share of answers within ±5 points of 30%; after the abort only production
answers, after the promotion only the candidate, each from the refresh interval plus 1 s
after the command.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.soak.mlctl import mlctl
from tests.traffic import Answer, Traffic

pytestmark = pytest.mark.soak
REFRESH_SECONDS = 2.0
SLACK_SECONDS = 1.0  # the request in flight when the refresh lands, a scheduler hiccup
HOLD_SECONDS = 8.0  # traffic in each phase once it is followed
WORKERS = 4
PERCENT = 30.0


def test_rollout(start_system, sampled, outcome):
    system = start_system(["predict_batch"], env={"MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS)})
    sampled(system)
    production = system.served.version
    candidate = mlctl(system, "train", "--family", "ridge", "--no-promote")["version"]
    phases: list[tuple[str, float, float]] = []  # name, followed from, until

    with Traffic(system.url("predict_batch"), WORKERS) as traffic:

        def phase(name: str, *command: str) -> None:
            mlctl(system, "rollout", *command)
            followed = time.time() + REFRESH_SECONDS + SLACK_SECONDS
            traffic.wait_until(followed + HOLD_SECONDS)
            phases.append((name, followed, time.time()))

        traffic.wait_until(time.time() + REFRESH_SECONDS)
        phase("split", "--version", str(candidate), "--percent", str(PERCENT))
        phase("aborted", "--abort")
        phase("split_again", "--version", str(candidate), "--percent", str(PERCENT))
        phase("promoted", "--promote")
    answers = traffic.answers
    failed = [a for a in answers if a.status != 200]
    within: dict[str, Callable[[Answer], bool]] = {
        name: (lambda a, start=start, end=end: start <= a.sent and a.received <= end)
        for name, start, end in phases
    }
    counts = {
        name: Counter(a.version for a in answers if a.served and inside(a))
        for name, inside in within.items()
    }
    shares = {
        name: round(100 * count[candidate] / max(sum(count.values()), 1), 2)
        for name, count in counts.items()
    }
    seconds = traffic.stopped - traffic.started
    outcome.figures = {
        "requests": len(answers),
        "failed": len(failed),
        "statuses": dict(Counter(str(a.status) for a in answers)),
        "requests_per_second": round(len(answers) / seconds, 1) if seconds else None,
        "candidate": candidate,
        "production": production,
        "percent": PERCENT,
        "candidate_share_percent": shares,
        "answers_per_phase": {name: sum(count.values()) for name, count in counts.items()},
        "refresh_seconds": REFRESH_SECONDS,
        "slack_seconds": SLACK_SECONDS,
    }
    outcome.expect(not failed, f"0 failed requests ({len(failed)} answered other than 200)")
    for name in ("split", "split_again"):
        outcome.expect(
            abs(shares[name] - PERCENT) <= 5,
            f"{name}: the candidate took {PERCENT:g}% ± 5 of the answers ({shares[name]}%)",
        )
    outcome.expect(
        set(counts["aborted"]) == {production},
        f"after the abort only version {production} answered ({dict(counts['aborted'])})",
    )
    outcome.expect(
        set(counts["promoted"]) == {candidate},
        f"after the promotion only version {candidate} answered ({dict(counts['promoted'])})",
    )
    outcome.assert_met()
