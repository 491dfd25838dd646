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
from infra.local.processes import LOOPBACK, free_port
from infra.local.serving import Function
from infra.local.system import LocalSystem

RUNS = 3
TIMEOUT = 60.0
_POLL_SECONDS = 0.005
_IMPORT_MAIN = (
    "import time; began = time.perf_counter(); import main; "
    "print((time.perf_counter() - began) * 1000)"
)


def import_ms(system: LocalSystem) -> float:
    """perf_counter around `import main`, inside a fresh interpreter."""
    finished = subprocess.run(
        [sys.executable, "-c", _IMPORT_MAIN],
        cwd=rig.ROOT,
        env={**os.environ, **system.cloud.env()},
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    return float(finished.stdout.strip().splitlines()[-1])


def first_prediction_ms(system: LocalSystem, run: int) -> float:
    """From spawning predict_batch until it first answers POST /predict with 200."""
    function, name = Function("predict_batch", "http", free_port()), f"cold-start-{run}"
    began = time.perf_counter()
    child = system.start_function(function, name=name, wait=False)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not _predicts(function.port):
            if child.exit_code() is not None:
                raise RuntimeError("predict_batch exited before its first answer")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no prediction within {TIMEOUT:g} s")
            time.sleep(_POLL_SECONDS)
        return (time.perf_counter() - began) * 1000
    finally:
        system.stop_function(name)


def _predicts(port: int) -> bool:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=TIMEOUT)
    try:
        connection.request(
            "POST", "/predict", body=BODY, headers={"Content-Type": "application/json"}
        )
        return connection.getresponse().status == 200
    except OSError:
        return False  # not listening yet
    finally:
        connection.close()


def measure(system: LocalSystem, runs: int = RUNS) -> dict[str, Any]:
    imports = [import_ms(system) for _ in range(runs)]
    firsts = [first_prediction_ms(system, run) for run in range(runs)]
    return {
        "import": round(median(imports), 1),
        "first_prediction": round(median(firsts), 1),
        "runs": runs,
    }
