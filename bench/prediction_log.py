"""What the prediction log costs the request path: one-instance req/s with it on and off.

`make bench` measures both servers in the same interleaved trials as http_single;
`python -m bench.prediction_log` measures only this, for a quick look. With
`--emulator-stopped` the Pub/Sub emulator is frozen meanwhile: the records are built and
their publishes hang, so the difference left is the function's own cost, without the
emulator's CPU on the same cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import Any

from bench import rig, single
from bench.load import load_generator
from bench.timing import median
from infra.local.cloud import PUBSUB_EMULATOR


def summary(log_on: dict[str, Any], log_off: dict[str, Any]) -> dict[str, Any]:
    """req/s with the log on over req/s with it off, per concurrency (1.0: free)."""
    return {
        "concurrency": log_on["concurrency"],
        "req_per_s_log_on": log_on["req_per_s"],
        "req_per_s_log_off": log_off["req_per_s"],
        # The median of each trial's ratio to its neighbour of the other server: the pairs
        # share the machine's mood of the moment, which a ratio of medians would not.
        "ratio": [
            round(median([on / off for on, off in zip(ons, offs, strict=True) if off]), 3)
            for ons, offs in zip(
                log_on["req_per_s_trials"], log_off["req_per_s_trials"], strict=True
            )
        ],
        "req_per_s_trials_log_on": log_on["req_per_s_trials"],
        "req_per_s_trials_log_off": log_off["req_per_s_trials"],
        "dropped_lines": dropped_lines(),
    }


def dropped_lines() -> int:
    """Lines where the log-on server reported dropped records (0: it published them all)."""
    path = rig.LOG_DIR / "predict_batch.log"
    try:
        return sum('"component":"prediction_log"' in line for line in path.open())
    except OSError:
        return -1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.prediction_log", description=__doc__)
    parser.add_argument("--trials", type=int, default=single.Plan.trials)
    parser.add_argument("--seconds", type=float, default=single.Plan.seconds)
    parser.add_argument(
        "--emulator-nice", action="store_true", help="as make bench: the emulator at nice 19"
    )
    parser.add_argument(
        "--emulator-stopped", action="store_true", help="the emulator frozen (SIGSTOP)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        action="append",
        help=f"levels ({', '.join(map(str, single.CONCURRENCY))})",
    )
    arguments = parser.parse_args()
    plan = single.Plan(
        trials=arguments.trials,
        seconds=arguments.seconds,
        concurrency=tuple(arguments.concurrency or single.CONCURRENCY),
    )
    generator = load_generator()
    with rig.running() as running, contextlib.ExitStack() as stack:
        if arguments.emulator_nice:
            stack.enter_context(rig.pubsub_elsewhere(running.system))
        if arguments.emulator_stopped:
            stack.enter_context(running.system.frozen(PUBSUB_EMULATOR))
        url = running.system.url
        urls = {"log_on": url("predict_batch"), "log_off": url("predict_batch_log_off")}
        measured = single.measure(generator, urls, plan)
        result = summary(measured["log_on"], measured["log_off"])
        result["p99_ms_log_on"] = measured["log_on"]["p99_ms"]
        result["p99_ms_log_off"] = measured["log_off"]["p99_ms"]
        result["pubsub_emulator_nice"] = rig.EMULATOR_NICE if arguments.emulator_nice else 0
        result["pubsub_emulator_stopped"] = arguments.emulator_stopped
    print(json.dumps({"load_generator": generator.describe()["name"], **result}, indent=2))


if __name__ == "__main__":
    main()
