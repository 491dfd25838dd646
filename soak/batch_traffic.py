"""Sustained HTTP load on predict_batch: threads posting small batches over keep-alive
connections, every answer kept with its status, the version its body names and its times."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import orjson

# One instance and a small batch, in turn: the two shapes clients send most.
BODIES = (
    (b'{"instances": [[0.05]]}', 1),
    (b'{"instances": [[0.01], [-0.02], [0.03], [0.04], [-0.05]]}', 5),
)
_TIMEOUT = 60.0  # an answer slower than this counts as none (status 0)
_POLL = 0.05


@dataclass(frozen=True)
class Answer:
    worker: int
    sent: float  # time.time(), comparable with the emulator's object times
    received: float
    status: int  # 0: no answer (connection refused, reset or timed out)
    version: int | None  # the version a 200 body names; None otherwise or when malformed
    retry_after: str | None

    @property
    def served(self) -> bool:
        """A 200 naming one model version with a prediction per instance."""
        return self.status == 200 and self.version is not None


class BatchTraffic:
    """`workers` threads posting back to back to url/predict until the context ends."""

    def __init__(self, url: str, workers: int = 4) -> None:
        parts = urllib.parse.urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._answers: list[Answer] = []
        self._threads = [
            threading.Thread(target=self._work, args=(n,), name=f"traffic-{n}", daemon=True)
            for n in range(workers)
        ]
        self.started = 0.0
        self.stopped = 0.0

    def __enter__(self) -> BatchTraffic:
        self.started = time.time()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=_TIMEOUT + 5)
        self.stopped = time.time()

    @property
    def answers(self) -> list[Answer]:
        with self._lock:
            return list(self._answers)

    @property
    def workers(self) -> int:
        return len(self._threads)

    def wait_for(self, condition: Callable[[Answer], bool], timeout: float, what: str) -> Answer:
        """The first answer meeting condition, waiting for one at most timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((a for a in self.answers if condition(a)), None)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no answer {what} within {timeout:g} s")
            time.sleep(_POLL)

    def wait_until(self, moment: float) -> None:
        """Let the traffic run until time.time() reaches moment."""
        self._stop.wait(max(0.0, moment - time.time()))

    def _work(self, worker: int) -> None:
        connection = self._connect()
        sent_count = 0
        while not self._stop.is_set():
            body, rows = BODIES[sent_count % len(BODIES)]
            sent_count += 1
            sent = time.time()
            try:
                status, version, retry_after = self._post(connection, body, rows)
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = self._connect()
                status, version, retry_after = 0, None, None
            answer = Answer(worker, sent, time.time(), status, version, retry_after)
            with self._lock:
                self._answers.append(answer)
            if status != 200:
                self._stop.wait(_POLL)  # a refused or failing server is not hammered
        connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=_TIMEOUT)

    @staticmethod
    def _post(
        connection: http.client.HTTPConnection, body: bytes, rows: int
    ) -> tuple[int, int | None, str | None]:
        connection.request(
            "POST", "/predict", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        data = response.read()
        version = _version(data, rows) if response.status == 200 else None
        return response.status, version, response.getheader("Retry-After")


def _version(data: bytes, rows: int) -> int | None:
    """The one version a success body names, if it has a prediction per instance."""
    try:
        body = orjson.loads(data)
        version = body["model"]["version"]
        predictions = body["predictions"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(version, int) or not isinstance(predictions, list):
        return None
    return version if len(predictions) == rows else None
