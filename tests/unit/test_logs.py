from __future__ import annotations

import json
import subprocess
import sys

from functions import logs


def test_a_request_line_has_the_contract_fields(capsys):
    logs.request(
        "POST /predict 200",
        component="predict_batch",
        request_id="r-1",
        model_version=3,
        latency_ms=1.23456,
    )
    logs.flush()
    (line,) = capsys.readouterr().out.splitlines()
    entry = json.loads(line)
    assert entry["severity"] == "INFO"
    assert entry["message"] == "POST /predict 200"
    assert entry["component"] == "predict_batch"
    assert entry["model_version"] == 3
    assert entry["latency_ms"] == 1.235
    assert entry["request_id"] == "r-1"
    assert entry["time"].endswith("Z")


def test_buffered_lines_reach_stdout_without_an_explicit_flush(repository_root):
    # os._exit skips every exit handler: only the background flush can deliver the line.
    program = (
        "import os, time\n"
        "from functions import logs\n"
        "logs.info('later', component='test')\n"
        "time.sleep(4 * logs.FLUSH_SECONDS)\n"
        "os._exit(0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=repository_root, capture_output=True, timeout=60
    )
    assert json.loads(result.stdout)["message"] == "later"


def test_without_the_background_flush_the_line_would_be_lost(repository_root):
    """The control for the test above: the same program, flusher disabled, prints nothing."""
    program = (
        "import os, time\n"
        "from functions import logs\n"
        "logs._flusher = object()\n"
        "logs.info('later', component='test')\n"
        "time.sleep(4 * logs.FLUSH_SECONDS)\n"
        "os._exit(0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=repository_root, capture_output=True, timeout=60
    )
    assert result.stdout == b""
