"""infra/smoke.py, Cloud Build's post-deploy check, run against the local cloud."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack

import pytest

from infra.local.cloud import LocalCloud
from tests.e2e.functions import ROOT, FunctionProcess
from tests.e2e.test_stream_process import production, stream_rig  # noqa: F401
from tests.pubsub_helpers import temporary_topic

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]


def run_smoke(local_cloud: LocalCloud, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.smoke",
            "--project",
            local_cloud.config.project_id,
            "--no-auth",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **local_cloud.env()},
        timeout=180,
        check=False,
    )


def test_smoke_passes_against_a_working_system(local_cloud, bucket, production):  # noqa: F811
    with ExitStack() as stack:
        rig = stream_rig(local_cloud, stack, {"MODEL_BUCKET": bucket})
        manager = LocalCloud(local_cloud.config)
        stack.callback(manager.stop)
        batch = FunctionProcess(
            manager, "predict_batch", "http", {**local_cloud.env(), "MODEL_BUCKET": bucket}
        ).start()
        result = run_smoke(
            local_cloud,
            "--url",
            batch.url,
            "--requests-topic",
            rig.requests_topic.rsplit("/", 1)[1],
            "--results-topic",
            rig.function.env["RESULTS_TOPIC"],
            "--timeout",
            "60",
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout


def test_smoke_fails_when_the_stream_does_not_answer(local_cloud, bucket, production):  # noqa: F811
    """Requests to a topic no function serves: the HTTP check passes, the stream check fails."""
    with ExitStack() as stack:
        unserved = stack.enter_context(temporary_topic(local_cloud, "unserved"))
        results = stack.enter_context(temporary_topic(local_cloud, "results"))
        manager = LocalCloud(local_cloud.config)
        stack.callback(manager.stop)
        batch = FunctionProcess(
            manager, "predict_batch", "http", {**local_cloud.env(), "MODEL_BUCKET": bucket}
        ).start()
        result = run_smoke(
            local_cloud,
            "--url",
            batch.url,
            "--requests-topic",
            unserved.name,
            "--results-topic",
            results.name,
            "--timeout",
            "5",
        )
    assert result.returncode == 1
    assert "http: " in result.stdout
    assert "no result for stream request" in result.stderr
