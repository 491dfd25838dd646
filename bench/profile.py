"""Profile the functions' workers with py-spy under the benchmark's own loads.

    .venv/bin/pip install py-spy     # a profiling aid, not a requirement of the project
    .venv/bin/python -m bench.profile [--seconds 20]

Samples the gunicorn worker (only while a thread holds the GIL: where the Python process
spends its one core) under one-instance POSTs at concurrency 8, then under 10,000-row JSON
batches, then predict_stream's worker under a burst of stream requests; writes the raw
collapsed stacks (flamegraph.pl's input) under .local/bench/profiles and prints the top of
each with the call trees that matter.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench import http_batch, rig, stream
from bench.load import LoadGenerator, load_generator
from bench.payloads import payload
from bench.stacks import Profile, render
from infra import names

OUT = rig.ROOT / ".local" / "bench" / "profiles"
RATE = 250  # samples per second
# Where the trees start: the worker's request handling, and the function itself.
SINGLE_ROOTS = ("ThreadWorker.handle (", "handle (functions/serving/http.py")
BATCH_ROOTS = ("handle (functions/serving/http.py",)
STREAM_ROOTS = ("handle (functions/serving/stream.py",)
STREAM_BURST = 5000  # requests: more than a profile's seconds can take


def record(pid: int, seconds: float, raw: Path, load: Callable[[], object]) -> Profile:
    """py-spy on pid into raw while load runs (load should last about `seconds`)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    raw.parent.mkdir(parents=True, exist_ok=True)
    command = [spy, "record", "--pid", str(pid), "--duration", f"{seconds:g}"]
    command += ["--rate", str(RATE), "--gil", "--format", "raw", "--output", str(raw)]
    recorder = subprocess.Popen(command)
    time.sleep(0.5)  # let py-spy attach before the load starts
    loader = threading.Thread(target=load)
    loader.start()
    loader.join()
    recorder.wait(timeout=seconds + 60)
    return Profile.read(raw)


def single_load(generator: LoadGenerator, url: str, seconds: float) -> Callable[[], object]:
    def run() -> object:
        result = generator.run(url + "/predict", 8, seconds)
        print(
            f"load: {result.req_per_s:,.0f} req/s, p50 {result.p50_ms:.2f} ms, "
            f"p99 {result.p99_ms:.2f} ms, {result.errors} errors"
        )
        return result

    return run


def batch_load(url: str, body: bytes, seconds: float) -> Callable[[], object]:
    def run() -> object:
        client = http_batch.BatchClient(url)
        requests = 0
        deadline = time.monotonic() + seconds
        began = time.perf_counter()
        while time.monotonic() < deadline:
            client.post(body, "application/json")
            requests += 1
        elapsed = time.perf_counter() - began
        client.close()
        rows = requests * 10_000 / elapsed
        print(f"load: {requests / elapsed:.1f} batches/s = {rows:,.0f} rows/s")
        return requests

    return run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="per profile (20)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where stacks go ({OUT})")
    arguments = parser.parse_args()
    seconds, out = arguments.seconds, arguments.out
    generator = load_generator()
    with rig.running() as running:
        system = running.system
        url = system.url("predict_batch")
        (pid,) = system.worker_pids("predict_batch")  # gunicorn's one worker
        body = payload(10_000, running.model.features).json
        # Warm both paths (model loaded, first-call costs paid) before sampling.
        generator.run(url + "/predict", 8, 2.0)
        batch_load(url, body, 2.0)()
        single = record(pid, seconds, out / "single-c8.txt", single_load(generator, url, seconds))
        print(render("POST /predict, 1 instance, concurrency 8", single, SINGLE_ROOTS))
        batch = record(pid, seconds, out / "batch-10k-json.txt", batch_load(url, body, seconds))
        print(render("POST /predict, 10,000-row JSON", batch, BATCH_ROOTS))
        system.push_to(names.PREDICTION_REQUESTS_PUSH, "predict_stream")
        with system.cloud.pubsub_clients() as (publisher, subscriber):
            burst = stream.Burst(system.config, publisher, subscriber)
            burst.results(burst.publish("warmup", 1000))
            (stream_pid,) = system.worker_pids("predict_stream")
            profile = record(
                stream_pid,
                seconds,
                out / "stream-burst.txt",
                lambda: burst.publish("burst", STREAM_BURST),
            )
        print(render("predict_stream, a burst of one-instance requests", profile, STREAM_ROOTS))
    print(f"\nraw collapsed stacks in {out}")


if __name__ == "__main__":
    main()
