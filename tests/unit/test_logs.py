from __future__ import annotations

import json
import subprocess
import sys
import uuid

from functions.platform import logs


def test_a_request_line_has_the_contract_fields(capsys):
    request_id = f"r-{uuid.uuid4().hex}"
    logs.request(
        "POST /predict 200",
        component="predict_batch",
        request_id=request_id,
        model_version=3,
        latency_ms=1.23456,
    )
    logs.flush()
    # Threads of earlier tests (servers, publishers) may still log: find this test's line.
    (entry,) = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if request_id in line
    ]
    assert entry["severity"] == "INFO"
    assert entry["message"] == "POST /predict 200"
    assert entry["component"] == "predict_batch"
    assert entry["model_version"] == 3
    assert entry["latency_ms"] == 1.235
    assert entry["request_id"] == request_id
    assert entry["time"].endswith("Z")


def log_then_exit_abruptly(repository_root, disable_flusher: bool) -> bytes:
    """Log one line, wait, then os._exit, which skips every exit handler: only the
    background flush can have delivered the line. What reached stdout."""
    program = (
        "import os, time\n"
        "from functions.platform import logs\n"
        + ("logs._flusher = object()\n" if disable_flusher else "")
        + "logs.info('later', component='test')\n"
        "time.sleep(4 * logs.FLUSH_SECONDS)\n"
        "os._exit(0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=repository_root, capture_output=True, timeout=60
    )
    return result.stdout


def test_buffered_lines_reach_stdout_without_an_explicit_flush(repository_root):
    assert json.loads(log_then_exit_abruptly(repository_root, False))["message"] == "later"


def test_without_the_background_flush_the_line_would_be_lost(repository_root):
    """The control for the test above: the flusher disabled, nothing is printed."""
    assert log_then_exit_abruptly(repository_root, True) == b""
