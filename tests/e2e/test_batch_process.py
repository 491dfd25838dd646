"""predict_batch as production runs it: a functions-framework process against the emulators."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from infra.local.cloud import LocalCloud
from tests.e2e.functions import FunctionProcess

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def mlctl(local_cloud: LocalCloud, bucket: str, repository_root, *argv: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "mlctl", "--bucket", bucket, *argv],
        cwd=repository_root,
        env={**local_cloud.env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture
def predict_batch(local_cloud, bucket) -> Iterator[FunctionProcess]:
    # Its own process manager on the session's emulators: stopping it stops only this.
    manager = LocalCloud(local_cloud.config)
    env = {"MODEL_BUCKET": bucket, "MODEL_REFRESH_SECONDS": "1"}
    try:
        yield FunctionProcess(manager, "predict_batch", "http", env).start()
    finally:
        manager.stop()


def wait_for_version(url: str, version: int, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = get_json(url)
        if status == 200 and body["model"]["version"] == version:
            return body
        assert time.monotonic() < deadline, f"still {status} {body} after {timeout}s"
        time.sleep(0.2)


def test_promotion_and_rollback_are_served_without_a_restart(
    predict_batch, local_cloud, bucket, repository_root
):
    url = f"{predict_batch.url}/batch/[0.5,0.2,0.6]"
    status, body = get_json(url)
    assert status == 503  # nothing promoted yet: unavailable, not a crash
    assert body["error"]["status"] == "UNAVAILABLE"

    first = mlctl(local_cloud, bucket, repository_root, "train")
    assert first["promoted"] is True
    v1 = wait_for_version(url, 1)
    assert len(v1["predictions"]) == 3

    # A second version trained on other rows has other weights: promote it by hand.
    second = mlctl(local_cloud, bucket, repository_root, "train", "--holdout", "60", "--no-promote")
    assert second["version"] == 2
    mlctl(local_cloud, bucket, repository_root, "promote", "2")
    v2 = wait_for_version(url, 2)
    assert v2["predictions"] != v1["predictions"]
    pinned = get_json(f"{predict_batch.url}/batch/[0.5,0.2,0.6]?version=1")[1]
    assert pinned["predictions"] == v1["predictions"]

    mlctl(local_cloud, bucket, repository_root, "rollback")
    assert wait_for_version(url, 1)["predictions"] == v1["predictions"]
    assert predict_batch.process.poll() is None  # the same process all along
