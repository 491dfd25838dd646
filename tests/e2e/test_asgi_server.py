"""predict_batch on the ASGI server keeps the semantics that matter (docs/http.md): a body is
refused at its limit without being read to its end, and SIGTERM lets a request in flight
finish and the prediction log flush before the process exits."""

from __future__ import annotations

import http.client
import os
import re
import select
import signal
import socket
import threading

import numpy as np
import orjson
import pytest

from infra import names
from infra.local.processes import LOOPBACK
from infra.local.system import LocalSystem

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]

LIMIT = 16 * 1024 * 1024  # MAX_BODY_BYTES's default
CHUNK = 1024 * 1024
ENDLESS = 1024 * CHUNK  # a GiB: what the client would go on sending


@pytest.fixture
def system(start_system) -> LocalSystem:
    return start_system(["predict_batch"])


def whole_answer(client: socket.socket) -> bytes:
    """The answer's head, then as much body as its Content-Length says: the two may arrive
    in separate reads."""
    answer = b""
    while not is_complete(answer):
        try:
            part = client.recv(65536)  # bounded by the socket's timeout
        except ConnectionResetError:
            break  # closed on the body it did not read: whatever came is the answer
        if not part:
            break
        answer += part
    return answer


def is_complete(answer: bytes) -> bool:
    head, separator, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return bool(separator) and len(body) >= (int(length[1]) if length else 0)


def test_an_endless_body_is_refused_at_the_limit_without_being_read_to_its_end(system):
    port = system.functions["predict_batch"].port
    with socket.create_connection((LOOPBACK, port), timeout=30) as client:
        client.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (CHUNK, b" " * CHUNK)
        sent = 0
        while sent < ENDLESS and not select.select([client], [], [], 0)[0]:
            try:
                client.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server has answered and closed: its answer is in our buffer
            sent += CHUNK
        answer = whole_answer(client)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"over the limit of 16777216 bytes" in answer
    assert sent < 4 * LIMIT  # the limit, plus what the sockets' buffers held


def test_sigterm_lets_a_request_in_flight_finish_and_flushes_its_prediction_record(system):
    watch = system.add_subscription(names.PREDICTION_LOG)
    port = system.functions["predict_batch"].port
    rows = np.linspace(-0.1, 0.1, 100_000).reshape(-1, 1).tolist()
    body = orjson.dumps({"instances": rows})
    sent, answers = threading.Event(), []

    def batch() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
        headers = {"Content-Type": "application/json", "X-Request-Id": "in-flight"}
        connection.request("POST", "/predict", body, headers)
        sent.set()
        response = connection.getresponse()
        answers.append((response.status, orjson.loads(response.read())))
        connection.close()

    thread = threading.Thread(target=batch)
    thread.start()
    assert sent.wait(30)
    probe = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    probe.request("GET", "/health")  # answered once the loop has taken the batch's bytes
    assert probe.getresponse().status == 200
    probe.close()
    master = system.children["predict_batch"]
    os.kill(master.pid, signal.SIGTERM)
    thread.join(60)
    ((status, answer),) = answers
    assert (status, len(answer["predictions"])) == (200, len(rows))
    assert master.process.wait(60) == 0
    # The model takes feedback (make run's do): its 100 records, every instance in them.
    in_flight = system.pull(watch, 100, 30.0, keep=lambda m: b'"in-flight"' in m.data)
    records = [orjson.loads(m.data) for m in in_flight]
    assert sorted(record["first_index"] for record in records) == list(range(0, len(rows), 1000))
    assert sum(record["instance_count"] for record in records) == len(rows)
