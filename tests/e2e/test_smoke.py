"""infra/smoke.py, Cloud Build's post-deploy check, run against the local cloud."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack

import pytest

from infra.local.cloud import LocalCloud
from tests.e2e.functions import ROOT, FunctionProcess
from tests.e2e.test_stream_process import stream_rig
from tests.pubsub_helpers import temporary_topic

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]


def run_smoke(
    local_cloud: LocalCloud, url: str, requests_topic: str, results_topic: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            *("-m", "infra.smoke", "--no-auth", "--url", url),
            *("--project", local_cloud.config.project_id, "--timeout", str(timeout)),
            *("--requests-topic", requests_topic, "--results-topic", results_topic),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **local_cloud.env()},
        timeout=180,
        check=False,
    )


def predict_batch_process(local_cloud: LocalCloud, stack: ExitStack, bucket: str) -> str:
    """Start predict_batch as its own process for this test; its URL."""
    manager = LocalCloud(local_cloud.config)
    stack.callback(manager.stop)
    env = {**local_cloud.env(), "MODEL_BUCKET": bucket}
    return FunctionProcess(manager, "predict_batch", "http", env).start().url


def test_smoke_passes_against_a_working_system(local_cloud, bucket, production):
    with ExitStack() as stack:
        rig = stream_rig(local_cloud, stack, {"MODEL_BUCKET": bucket})
        url = predict_batch_process(local_cloud, stack, bucket)
        requests_topic = rig.requests_topic.rsplit("/", 1)[1]
        result = run_smoke(local_cloud, url, requests_topic, rig.function.env["RESULTS_TOPIC"], 60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout


def test_smoke_fails_when_the_stream_does_not_answer(local_cloud, bucket, production):
    """Requests to a topic no function serves: the HTTP check passes, the stream check fails."""
    with ExitStack() as stack:
        unserved = stack.enter_context(temporary_topic(local_cloud, "unserved"))
        results = stack.enter_context(temporary_topic(local_cloud, "results"))
        url = predict_batch_process(local_cloud, stack, bucket)
        result = run_smoke(local_cloud, url, unserved.name, results.name, 5)
    assert result.returncode == 1
    assert "http: " in result.stdout
    assert "no result for stream request" in result.stderr
