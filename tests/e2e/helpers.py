"""What the end-to-end tests share: calls to a function, stream requests and results, waits."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from infra import names
from infra.local.system import LocalSystem

T = TypeVar("T")
Result = tuple[float, dict[str, str], dict[str, Any]]  # Pub/Sub's publish time, attributes, data


def call(url: str, body: Any = None, timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    """GET url, or POST body (bytes as they are, anything else as JSON); status and answer."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def publish_requests(system: LocalSystem, bodies: dict[str, bytes]) -> dict[str, float]:
    """Publish stream requests at once, keyed by request id; the time each was sent."""
    sent = {request_id: time.time() for request_id in bodies}
    messages = [(body, {"request_id": request_id}) for request_id, body in bodies.items()]
    system.publish_all(names.PREDICTION_REQUESTS, messages)
    return sent


def stream_results(system: LocalSystem, count: int, timeout: float) -> dict[str, list[Result]]:
    """Results by request id (a redelivery may answer twice) until count requests have one
    or timeout seconds passed; Pub/Sub stamps the time, so pulling in batches adds nothing."""
    by_id: dict[str, list[Result]] = {}
    deadline = time.monotonic() + timeout
    while len(by_id) < count and (left := deadline - time.monotonic()) > 0:
        for message in system.pull(names.PREDICTION_RESULTS_SUB, count - len(by_id), min(left, 5)):
            attributes = dict(message.attributes)
            by_id.setdefault(attributes["request_id"], []).append(
                (message.publish_time.timestamp(), attributes, json.loads(message.data))
            )
    return by_id


def wait_until(condition: Callable[[], T], timeout: float, what: str = "condition") -> T:
    """Poll condition until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.05)
    return value
