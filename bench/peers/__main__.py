"""`python -m bench.peers` (make bench-peers): predict_batch, KServe and MLServer side by side
on the same one-instance request; bench/peers.json and a table.

predict_batch runs as make bench runs it (bench/rig.py: the local system, its first model,
functions-framework under gunicorn, the prediction log on, the Pub/Sub emulator at nice 19
while loaded). The peers serve scikit-learn's LinearRegression fitted on the same training
rows (bench/peers/fitted.py). Each server must answer the request as predict_batch does
before it is measured; the load is make bench's http_single load (bench/single.py), the
three servers' trials in turn.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import machine, rig, single
from bench.peers import fitted, servers
from bench.peers.routed import Routed

RESULTS = Path(__file__).parents[1] / "peers.json"
OURS = "predict_batch"
PEERS = ("kserve", "mlserver")
# The answers are one float computed two ways (folded weights, scikit-learn's): equal to
# rounding.
ANSWER_TOLERANCE = 1e-9


def main() -> None:
    arguments = _arguments()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    plan = single.Plan(trials=arguments.trials, seconds=arguments.seconds)
    began = time.monotonic()
    with rig.running() as running, tempfile.TemporaryDirectory() as scratch:
        model_path = fitted.write(Path(scratch), running.model)
        print(f"[{time.monotonic() - began:6.1f} s] starting KServe and MLServer", flush=True)
        with servers.peers(model_path, Path(scratch), rig.LOG_DIR) as peers:
            ours = servers.predict_batch(running.system.url(OURS), rig.server_settings())
            named = {OURS: ours, **peers}
            expected = float(running.model.predict(np.array([[servers.INSTANCE]]))[0])
            for name, server in named.items():
                answer = server.predict()
                assert math.isclose(answer, expected, rel_tol=0, abs_tol=ANSWER_TOLERANCE), (
                    f"{name} answers {answer!r}, predict_batch's model {expected!r}"
                )
            generator = Routed({name: server.target for name, server in named.items()})
            results: dict[str, Any] = {
                "machine": machine.describe(generator.describe(), ours.settings)
            }
            print(f"[{time.monotonic() - began:6.1f} s] measuring", flush=True)
            with rig.pubsub_elsewhere(running.system):
                # single.measure asks for each server by its name (see routed.py).
                measured = single.measure(generator, {name: name for name in named}, plan)
    results["servers"] = {
        name: {
            "url_path": "/" + server.target.url.split("/", 3)[3],
            "body": server.target.body.decode(),
            "settings": server.settings,
            **measured[name],
        }
        for name, server in named.items()
    }
    results["comparison"] = _comparison(results["servers"])
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    results["machine"]["bench_seconds"] = round(time.monotonic() - began, 1)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{_table(results)}\n\nwritten to {RESULTS}")


def _comparison(measured: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per concurrency: our req/s over each peer's (medians over medians), and whether our
    p99 is no worse than the best peer's."""
    ours = measured[OURS]
    comparison: dict[str, Any] = {"concurrency": ours["concurrency"]}
    for peer in PEERS:
        comparison[f"req_per_s_{OURS}_over_{peer}"] = [
            round(mine / theirs, 3) if theirs else None
            for mine, theirs in zip(ours["req_per_s"], measured[peer]["req_per_s"], strict=True)
        ]
    best_peer_p99 = [
        min(p99s) for p99s in zip(*(measured[p]["p99_ms"] for p in PEERS), strict=True)
    ]
    comparison["best_peer_p99_ms"] = best_peer_p99
    comparison[f"{OURS}_p99_no_worse_than_best_peer"] = [
        mine <= best for mine, best in zip(ours["p99_ms"], best_peer_p99, strict=True)
    ]
    return comparison


def _table(results: dict[str, Any]) -> str:
    measured, comparison = results["servers"], results["comparison"]
    generator = results["machine"]["load_generator"]
    lines = [
        f"{results['machine']['cores']} cores; load: {generator['name']} {generator['version']}",
        f"{'one instance':<26}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}",
    ]
    for index, level in enumerate(comparison["concurrency"]):
        lines.append(f"concurrency {level}")
        for name, figures in measured.items():
            lines.append(
                f"  {name:<24}{figures['req_per_s'][index]:>10,.0f}"
                f"{figures['p50_ms'][index]:>9.2f}{figures['p99_ms'][index]:>9.2f}"
                f"{figures['errors'][index]:>8}"
            )
        ratios = ", ".join(
            f"÷ {peer} {comparison[f'req_per_s_{OURS}_over_{peer}'][index]:.2f}" for peer in PEERS
        )
        no_worse = comparison[f"{OURS}_p99_no_worse_than_best_peer"][index]
        lines.append(f"  {OURS} req/s {ratios}; p99 ≤ best peer's: {'yes' if no_worse else 'no'}")
    return "\n".join(lines)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    single.add_plan_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    main()
