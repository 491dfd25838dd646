"""Batch scoring: a 1,000,000-row CSV through `mlctl score` on Beam's local runner, beside the
same rows through predict_batch in requests of 100,000 and through the in-process codec bound
(docs/scoring.md). The job runs as its own process, as a user runs it, so its peak memory is
its own: it streams the file, so that peak should not grow with the rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import codec, http_batch
from bench.payloads import payload
from bench.rig import ROOT, Rig

ROWS = 1_000_000
REQUEST_ROWS = 100_000  # predict_batch's largest request


def measure(running: Rig) -> dict[str, Any]:
    model, system = running.model, running.system
    chunk = payload(REQUEST_ROWS, model.features)
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as directory:
        source = Path(directory) / "rows.csv"
        header, _, rows = chunk.csv.partition(b"\n")
        with source.open("wb") as file:
            file.write(header + b"\n" + rows * (ROWS // REQUEST_ROWS))
        job = _job(running, source, Path(directory) / "out")
    client = http_batch.BatchClient(system.url("predict_batch"))
    try:
        http_batch.check(client, chunk.csv, "text/csv", REQUEST_ROWS)
        started = time.perf_counter()
        for _ in range(ROWS // REQUEST_ROWS):
            client.post(chunk.csv, "text/csv")
        http_rows_per_s = ROWS / (time.perf_counter() - started)
    finally:
        client.close()
    worker = codec.CodecWorker(model, [REQUEST_ROWS])
    try:
        codec_rows_per_s = worker.trial("csv", REQUEST_ROWS)
    finally:
        worker.close()
    return {
        "rows": ROWS,
        "job": job,
        "job_rows_per_s": round(ROWS / job["wall_seconds"]),
        "http_batch_rows_per_s": round(http_rows_per_s),
        "codec_bound_rows_per_s": round(codec_rows_per_s),
        "job_over_http_batch": round(ROWS / job["wall_seconds"] / http_rows_per_s, 3),
        "job_over_codec_bound": round(ROWS / job["wall_seconds"] / codec_rows_per_s, 3),
    }


def _job(running: Rig, source: Path, output: Path) -> dict[str, Any]:
    """`mlctl score` in a process of its own: its summary, wall time and peak RSS."""
    system = running.system
    command = [sys.executable, "-m", "mlctl", "--bucket", system.config.bucket]
    command += ["--model", running.model.name, "score", "--input", str(source)]
    command += ["--output", str(output), "--version", str(running.model.version)]
    env = {**os.environ, **system.cloud.env(), **system.env}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"mlctl score exited with status {status}")
    summary = json.loads(out)
    return {
        **{key: summary[key] for key in ("rows", "predicted", "dead_letters", "seconds")},
        "wall_seconds": round(wall, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }
