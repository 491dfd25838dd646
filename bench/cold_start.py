"""Cold start: the import of main.py in a fresh interpreter, and a new functions-framework
process from its spawn until its first successful prediction."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from typing import Any

from bench import rig
from bench.load import BODY
from bench.timing import median
from infra.local.cloud import LocalCloud

RUNS = 3
TIMEOUT = 60.0
_POLL_SECONDS = 0.005
_IMPORT_MAIN = (
    "import time; began = time.perf_counter(); import main; "
    "print((time.perf_counter() - began) * 1000)"
)


def import_ms(cloud: LocalCloud) -> float:
    """perf_counter around `import main`, inside a fresh interpreter."""
    finished = subprocess.run(
        [sys.executable, "-c", _IMPORT_MAIN],
        cwd=rig.ROOT,
        env={**os.environ, **cloud.env()},
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    return float(finished.stdout.strip().splitlines()[-1])


def first_prediction_ms(cloud: LocalCloud, run: int) -> float:
    """From spawning predict_batch until it first answers POST /predict with 200."""
    manager = LocalCloud(cloud.config)  # owns this one process only
    try:
        function = rig.predict_batch()
        began = time.perf_counter()
        process = manager.start_process(f"cold-start-{run}", function.command(), cwd=rig.ROOT)
        _until_prediction(function.port, process)
        return (time.perf_counter() - began) * 1000
    finally:
        manager.stop()


def _until_prediction(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("predict_batch exited before its first answer")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        try:
            connection.request(
                "POST", "/predict", body=BODY, headers={"Content-Type": "application/json"}
            )
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass  # not listening yet
        finally:
            connection.close()
        time.sleep(_POLL_SECONDS)
    raise RuntimeError(f"no prediction within {TIMEOUT:g} s")


def measure(cloud: LocalCloud, runs: int = RUNS) -> dict[str, Any]:
    imports = [import_ms(cloud) for _ in range(runs)]
    firsts = [first_prediction_ms(cloud, run) for run in range(runs)]
    return {
        "import": round(median(imports), 1),
        "first_prediction": round(median(firsts), 1),
        "runs": runs,
    }
