"""predict_batch keeps its latency while the prediction log cannot reach Pub/Sub.

The function runs as production does, with its Pub/Sub endpoint a socket that accepts
connections and never answers: each publish of the log's thread hangs until its timeout.
Requests only hand their record to a queue, so none of them may wait for that.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest

from infra.local.cloud import LOOPBACK, LocalCloud
from tests.e2e.functions import FunctionProcess

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]

PUBLISH_TIMEOUT = 3.0  # seconds a publish hangs before the log drops its batch
REQUESTS = 300
BODY = json.dumps({"instances": [0.05]}).encode()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """host:port of a listener that never accepts: connects succeed, nothing ever answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(64)
        yield f"{LOOPBACK}:{listener.getsockname()[1]}"


@pytest.fixture
def predict_batch(local_cloud, bucket, production, black_hole) -> Iterator[FunctionProcess]:
    manager = LocalCloud(local_cloud.config)
    env = {
        "MODEL_BUCKET": bucket,
        "PUBSUB_EMULATOR_HOST": black_hole,  # only the prediction log talks to Pub/Sub here
        "PUBLISH_TIMEOUT_SECONDS": str(PUBLISH_TIMEOUT),
    }
    try:
        yield FunctionProcess(manager, "predict_batch", "http", env).start()
    finally:
        manager.stop()


def test_requests_keep_their_latency_while_the_prediction_log_topic_is_unreachable(
    predict_batch,
):
    connection = http.client.HTTPConnection(LOOPBACK, predict_batch.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    latencies = []
    began = time.monotonic()
    # Past one publish timeout: the log's thread is stuck in a publish for most of it.
    while len(latencies) < REQUESTS or time.monotonic() - began < PUBLISH_TIMEOUT * 1.5:
        sent = time.perf_counter()
        connection.request("POST", "/predict", BODY, headers)
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
        latencies.append(time.perf_counter() - sent)
    connection.close()
    dropped = _wait_for_dropped_records(predict_batch, timeout=PUBLISH_TIMEOUT * 4)
    assert dropped > 0  # the topic was unreachable while the requests were answered
    # A request that waited on a publish would take the publish timeout; none comes near.
    assert max(latencies) < PUBLISH_TIMEOUT / 3, f"slowest {max(latencies):.3f} s"


def _wait_for_dropped_records(function: FunctionProcess, timeout: float) -> int:
    """The records the function reports dropped, once it has said so (bounded wait)."""
    log = function.manager.log_path(f"{function.target}-{function.starts}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if '"prediction_log"' in line and "records dropped" in line:
                return int(json.loads(line)["dropped_total"])
        time.sleep(0.1)
    raise AssertionError(f"no dropped records reported within {timeout} s; log: {log}")
