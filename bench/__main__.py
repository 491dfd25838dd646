"""`python -m bench` (make bench): measure every path, write bench/results.json, print a table.

It starts everything it needs on free ports (so it never meets a running make run) and stops
all of it at the end; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from bench import (
    batches,
    calibration,
    cold_start,
    event_loop,
    families,
    machine,
    many_models,
    prediction_log,
    report,
    rig,
    scoring,
    search,
    single,
    stages,
    stream,
    train,
)
from bench.load import load_generator
from bench.payloads import SIZES

RESULTS = Path(__file__).with_name("results.json")
STEPS = (
    "http",
    "stages",
    "stream",
    "cold_start",
    "families",
    "models",
    "scoring",
    "train",
    "search",
)


def main() -> None:
    arguments = _arguments()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    plan = single.Plan(trials=arguments.trials, seconds=arguments.seconds)
    generator = load_generator()
    print(f"load generator: {generator.describe()['name']}", flush=True)
    began = time.monotonic()
    results: dict[str, Any] = {
        "machine": machine.describe(generator.describe(), rig.server_settings())
    }
    results["machine"]["python_loop_us"] = {}
    steps = set(arguments.only or STEPS)
    with rig.running() as running:
        if "http" in steps:
            _step(
                began, "http_single (and _log_off), framework_, correct_ and flask_floor", results
            )
            url = running.system.url
            urls = {
                "http_single": url("predict_batch"),
                "http_single_log_off": url("predict_batch_log_off"),
                "framework_floor": url("floor"),
                "correct_floor": url("correct_floor"),
                "flask_floor": url("flask_floor"),
            }
            with rig.pubsub_elsewhere(running.system) as nice:
                results.update(single.measure(generator, urls, plan))
            results["prediction_log"] = prediction_log.summary(
                results["http_single"], results["http_single_log_off"]
            )
            results["prediction_log"]["pubsub_emulator_nice"] = nice
            _step(began, "http_batch and codec_bound", results)
            results.update(batches.measure(url("predict_batch"), running.model, SIZES))
            _step(began, "event_loop (a health probe beside 100,000-row batches)", results)
            results["event_loop"] = event_loop.measure(
                {"offloaded": url("predict_batch"), "on_loop": url("predict_batch_on_loop")},
                running.model.features,
            )
        if "stages" in steps:
            _step(began, "stages (µs per one-instance request, in one process)", results)
            env = {**running.system.cloud.env(), **running.system.env}
            results["stages"] = stages.run(env, rig.LOG_DIR.parent / "stages.json")
        if "stream" in steps:
            _step(began, "stream, stream_floor and stream_correct_floor", results)
            results.update(
                stream.measure(running.system, arguments.messages, arguments.stream_trials)
            )
        if "cold_start" in steps:
            _step(began, "cold_start_ms", results)
            results["cold_start_ms"] = cold_start.measure(running.system)
        if "families" in steps:
            _step(began, "families (each served pinned by ?version=N) and onnx_cost", results)
            results.update(families.measure(running, plan))
        if "models" in steps:
            _step(began, "many_models (20 in turn, loads, memory) and open_inference", results)
            results.update(many_models.measure(running, plan))
        if "scoring" in steps:
            _step(began, "scoring (1,000,000 CSV rows: mlctl score, predict_batch, codec)", results)
            results["scoring"] = scoring.measure(running)
    if "train" in steps:
        _step(began, "train", results)
        results["train"] = train.measure()
    if "search" in steps:
        _step(began, "search (diabetes against tuning by hand; 10,000 and 100,000 rows)", results)
        results["search"] = search.measure()
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    results["machine"]["bench_seconds"] = round(time.monotonic() - began, 1)
    if arguments.only:  # a partial run: shown, never mistaken for make bench's results
        print(json.dumps({key: results[key] for key in results if key != "machine"}, indent=2))
        if "families" in results:
            print(f"\n{report.families(results)}")
        if "search" in results:
            print(f"\n{report.search(results['search'])}")
        if "many_models" in results:
            print(f"\n{report.many_models(results)}")
        if "scoring" in results:
            print(f"\n{report.scoring(results['scoring'])}")
        return
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{report.table(results)}\n\nwritten to {RESULTS}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    single.add_plan_arguments(parser)
    parser.add_argument(
        "--messages", type=int, default=stream.MESSAGES, help="stream burst size (1000)"
    )
    parser.add_argument(
        "--stream-trials",
        type=int,
        default=stream.TRIALS,
        help=f"stream bursts, each followed by each floor's ({stream.TRIALS})",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=STEPS,
        help="run only these steps and print their results (results.json is left as it is)",
    )
    return parser.parse_args()


def _step(began: float, name: str, results: dict[str, Any]) -> None:
    """Announce a step and note how fast plain Python runs just before it."""
    speed = calibration.python_loop_us()
    results["machine"]["python_loop_us"][name] = speed
    print(f"[{time.monotonic() - began:6.1f} s] {name} (python loop {speed} µs)", flush=True)


if __name__ == "__main__":
    main()
