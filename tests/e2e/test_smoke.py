"""infra/smoke.py, Cloud Build's post-deploy check, run against the local system."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra import names
from infra.local.serving import REPOSITORY_ROOT
from infra.local.system import LocalSystem

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]


def run_smoke(system: LocalSystem, timeout: float) -> subprocess.CompletedProcess[str]:
    resource = system.config.resource
    return subprocess.run(
        [
            sys.executable,
            *("-m", "infra.smoke", "--no-auth", "--url", system.url("predict_batch")),
            *("--project", system.config.project_id, "--timeout", str(timeout)),
            *("--requests-topic", resource(names.PREDICTION_REQUESTS)),
            *("--results-topic", resource(names.PREDICTION_RESULTS)),
        ],
        capture_output=True,
        text=True,
        cwd=REPOSITORY_ROOT,
        env={"PATH": "/usr/bin:/bin", **system.cloud.env()},
        timeout=180,
        check=False,
    )


def test_smoke_passes_against_a_working_system(start_system):
    result = run_smoke(start_system(["predict_batch", "predict_stream"]), 60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout


def test_smoke_fails_when_the_stream_does_not_answer(start_system):
    """No predict_stream serves the requests: the HTTP check passes, the stream check fails."""
    result = run_smoke(start_system(["predict_batch"]), 1)
    assert result.returncode == 1
    assert "http: " in result.stdout
    assert "no result for stream request" in result.stderr
