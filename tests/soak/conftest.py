"""The soak tier's fixtures: each scenario's outcome (figures and missed targets) and the
processes of its system sampled each second, all written to soak/results.json at the end.

Every scenario starts its system with the suite's `start_system` (tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.local.serving import REPOSITORY_ROOT
from infra.local.system import LocalSystem
from tests.soak.resources import Sampler, summary

RESULTS = REPOSITORY_ROOT / "soak" / "results.json"  # git-ignored
# The scenarios in results.json's order (whatever order pytest ran them in).
SCENARIOS = ("bad_input", "stream_faults", "promotion", "resources", "rollout", "feedback")
_RAISED = pytest.StashKey[str]()


@dataclass
class Outcome:
    """What a scenario reports: its figures (counts, rates, times) go into results.json as
    they are; each missed target is named in misses and fails the test."""

    figures: dict[str, Any] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    checked: bool = False

    def expect(self, held: bool, target: str) -> bool:
        """Record target as missed unless held; whether it held."""
        if not held:
            self.misses.append(target)
        return held

    def assert_met(self) -> None:
        self.checked = True
        assert not self.misses, "missed: " + "; ".join(self.misses)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep what a scenario raised, for its outcome's misses."""
    if call.when == "call" and call.excinfo is not None:
        item.stash[_RAISED] = call.excinfo.exconly()[:500]
    return (yield)


@pytest.fixture(scope="session", autouse=True)
def soak_results() -> Iterator[dict[str, dict[str, Any]]]:
    """Each scenario's outcome by name; written to soak/results.json once the session ends."""
    began = time.monotonic()
    scenarios: dict[str, dict[str, Any]] = {}
    yield scenarios
    if not scenarios:
        return
    ordered = {name: scenarios[name] for name in sorted(scenarios, key=_order)}
    results = {
        "commit": _commit(),
        "scenarios": ordered,
        "seconds": round(time.monotonic() - began, 1),
        "passed": all(scenario["passed"] for scenario in ordered.values()),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


@pytest.fixture
def outcome(request: pytest.FixtureRequest, soak_results: dict[str, Any]) -> Iterator[Outcome]:
    """The scenario's outcome (its name: the test module's, after test_)."""
    found = Outcome()
    yield found
    if not found.checked:
        raised = request.node.stash.get(_RAISED, "it stopped")
        found.misses.append(f"the scenario ended before its targets were checked: {raised}")
    name = request.module.__name__.rpartition(".test_")[2]
    soak_results[name] = {
        "passed": not found.misses,
        "misses": found.misses,
        "figures": found.figures,
    }


@pytest.fixture
def sampled(
    start_system: Callable[..., LocalSystem], outcome: Outcome
) -> Iterator[Callable[[LocalSystem], Sampler]]:
    """sampled(system): its functions' processes sampled each second until the test ends;
    their summary is the scenario's figures["resources"] unless it reports its own."""
    samplers: list[Sampler] = []

    def sample(system: LocalSystem) -> Sampler:
        samplers.append(Sampler(system.children))
        return samplers[-1]

    yield sample
    for sampler in samplers:
        sampler.stop()
    if samplers:
        outcome.figures.setdefault("resources", summary(samplers[0].samples()))


def _order(name: str) -> int:
    return SCENARIOS.index(name) if name in SCENARIOS else len(SCENARIOS)


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPOSITORY_ROOT,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()
