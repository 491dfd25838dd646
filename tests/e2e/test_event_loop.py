"""A large batch does not stall the small requests served beside it (docs/performance.md).

predict_batch runs on an event loop; a 100,000-row batch is decoded, predicted and encoded
on a worker thread, so health probes sent while it is computed are answered before it is.
The bound is stated as an order, not a time: a probe sent at least GRACE seconds after the
batch (its upload long done, its computing under way) must come back before the batch's
answer. Served on the loop instead, every such probe would wait for the batch.
"""

from __future__ import annotations

import http.client
import threading
import time

import numpy as np
import orjson
import pytest

from infra.local.processes import LOOPBACK

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]

ROWS = 100_000
GRACE = 0.1  # seconds: the batch computes for several times longer (docs/performance.md)
PROBES_BEFORE_THE_BATCH = 3


def test_probes_sent_while_a_large_batch_computes_are_answered_before_it(start_system):
    system = start_system(["predict_batch"])
    port = system.functions["predict_batch"].port
    body = orjson.dumps({"instances": np.linspace(-0.1, 0.1, ROWS).reshape(-1, 1).tolist()})
    answered: dict[str, float] = {}

    def send_batch() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
        connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert (response.status, len(orjson.loads(response.read())["predictions"])) == (200, ROWS)
        answered["batch"] = time.monotonic()
        connection.close()

    probe = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
    probe.request("GET", "/health")
    probe.getresponse().read()  # connected, the function warm
    batch = threading.Thread(target=send_batch)
    sent = time.monotonic()
    batch.start()
    probes: list[float] = []  # when each probe sent after the grace came back
    while batch.is_alive():
        began = time.monotonic()
        probe.request("GET", "/health")
        assert probe.getresponse().read() == b'{"status":"ok"}'
        if began - sent >= GRACE:
            probes.append(time.monotonic())
    batch.join()
    probe.close()
    before = [moment for moment in probes if moment < answered["batch"]]
    assert len(before) >= PROBES_BEFORE_THE_BATCH, f"{len(before)} of {len(probes)} probes"
