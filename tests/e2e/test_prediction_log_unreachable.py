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

from infra.local.processes import LOOPBACK
from infra.local.system import LocalSystem
from tests.e2e.helpers import wait_until

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
def system(start_system, black_hole) -> LocalSystem:
    env = {
        "PUBSUB_EMULATOR_HOST": black_hole,  # only the prediction log talks to Pub/Sub here
        "PUBLISH_TIMEOUT_SECONDS": str(PUBLISH_TIMEOUT),
    }
    return start_system(["predict_batch"], env=env)


def test_requests_keep_their_latency_while_the_prediction_log_topic_is_unreachable(system):
    port = system.functions["predict_batch"].port
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
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
    dropped = _wait_for_dropped_records(system, timeout=PUBLISH_TIMEOUT * 4)
    assert dropped > 0  # the topic was unreachable while the requests were answered
    # A request that waited on a publish would take the publish timeout; none comes near.
    assert max(latencies) < PUBLISH_TIMEOUT / 3, f"slowest {max(latencies):.3f} s"


def _wait_for_dropped_records(system: LocalSystem, timeout: float) -> int:
    """The records predict_batch reports dropped, once it has said so (bounded wait)."""
    log = system.children["predict_batch"].log_path

    def reported() -> int | None:
        for line in log.read_text().splitlines():
            if '"prediction_log"' in line and "records dropped" in line:
                return int(json.loads(line)["dropped_total"])
        return None

    return wait_until(reported, timeout, f"dropped records reported in {log}")
