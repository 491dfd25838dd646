"""`python -m soak` (make soak): every scenario in turn, soak/results.json, exit 1 on a miss.

Each scenario starts its own system on free ports (loopback only) and stops it; the whole
run is bounded (README "What it survives").
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.local.processes import exit_promptly
from soak import resources
from soak.outcome import Outcome
from soak.report import RESULTS

# Scenario name -> module under soak/ with run() -> Outcome, run in this order.
SCENARIOS: dict[str, str] = {
    "bad_input": "bad_input",
    "stream_faults": "stream_faults",
    "promotion": "promotion",
    "registry_races": "registry_races",
    "resources": "resource_use",
    "security": "security",
}


def main() -> int:
    arguments = _arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    began = time.monotonic()
    chosen = arguments.only or list(SCENARIOS)
    results: dict[str, Any] = {"commit": _commit(), "scenarios": {}}
    for name in chosen:
        print(f"[{time.monotonic() - began:6.1f} s] {name}", flush=True)
        outcome = _run(name)
        _attach_resources(outcome)
        results["scenarios"][name] = outcome.to_dict()
        verdict = "passed" if outcome.passed else "MISSED: " + "; ".join(outcome.misses)
        print(f"[{time.monotonic() - began:6.1f} s] {name} {verdict}", flush=True)
    results["seconds"] = round(time.monotonic() - began, 1)
    results["passed"] = all(s["passed"] for s in results["scenarios"].values())
    if arguments.only:
        print(json.dumps(results, indent=2))
    else:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written to {RESULTS}")
    return 0 if results["passed"] else 1


def _run(name: str) -> Outcome:
    """The scenario's outcome; a scenario that raises is a miss with the error, not a crash."""
    module = __import__(f"soak.{SCENARIOS[name]}", fromlist=["run"])
    run: Callable[[], Outcome] = module.run
    try:
        return run()
    except Exception as error:  # reported as the scenario's miss
        logging.exception("scenario %s failed", name)
        return Outcome(misses=[f"the scenario raised {type(error).__name__}: {error}"])


def _attach_resources(outcome: Outcome) -> None:
    """What the scenario's functions held (soak.resources): its one system's summary, or
    each system's by name when it ran several; unless the scenario reports its own."""
    sampled = resources.take_summaries()
    if sampled:
        outcome.figures.setdefault(
            "resources", next(iter(sampled.values())) if len(sampled) == 1 else sampled
        )


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        help="run only these scenarios and print their results (results.json is left as it is)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    exit_promptly(main())
