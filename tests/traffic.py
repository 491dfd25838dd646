"""Sustained HTTP load on predict_batch: threads sending over keep-alive connections, back
to back or at a steady pace, every answer kept with its status, the version its body names
and its times."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass

import orjson

# (method, path, body, instances): one instance and a small batch, the shapes sent most.
REQUESTS = (
    ("POST", "/predict", b'{"instances": [[0.05]]}', 1),
    ("POST", "/predict", b'{"instances": [[0.01], [-0.02], [0.03], [0.04], [-0.05]]}', 5),
)
TIMEOUT = 60.0  # an answer slower than this counts as none (status 0)


@dataclass(frozen=True)
class Answer:
    worker: int
    sent: float  # time.time(), comparable with the emulator's object times
    received: float
    status: int  # 0: no answer (connection refused, reset or timed out)
    version: int | None  # the version a 200 body names with a prediction per instance

    @property
    def served(self) -> bool:
        return self.status == 200 and self.version is not None


class Traffic:
    """`workers` threads sending `requests` in turn to url until the context ends, back to
    back, or each at per_second requests a second."""

    def __init__(
        self,
        url: str,
        workers: int = 4,
        requests: tuple[tuple[str, str, bytes | None, int], ...] = REQUESTS,
        per_second: float | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port)
        self._requests = requests
        self._interval = 1 / per_second if per_second else 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._answers: list[Answer] = []
        self._threads = [
            threading.Thread(target=self._work, args=(n,), name=f"traffic-{n}", daemon=True)
            for n in range(workers)
        ]
        self.workers = workers
        self.started = self.stopped = 0.0

    def __enter__(self) -> Traffic:
        self.started = time.time()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=TIMEOUT + 5)
        self.stopped = time.time()

    @property
    def answers(self) -> list[Answer]:
        with self._lock:
            return list(self._answers)

    def wait_until(self, moment: float) -> None:
        """Let the traffic run until time.time() reaches moment."""
        self._stop.wait(max(0.0, moment - time.time()))

    def _work(self, worker: int) -> None:
        connection = http.client.HTTPConnection(*self._address, timeout=TIMEOUT)
        began = time.monotonic()
        count = 0
        while not self._stop.is_set():
            method, path, body, rows = self._requests[count % len(self._requests)]
            count += 1
            sent = time.time()
            try:
                headers = {"Content-Type": "application/json"} if body else {}
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()  # it connects again on the next request
                status, data = 0, b""
            answer = Answer(worker, sent, time.time(), status, _version(status, data, rows))
            with self._lock:
                self._answers.append(answer)
            # The next at its time; a failing server is not hammered.
            pause = began + count * self._interval - time.monotonic()
            self._stop.wait(max(pause, 0.05 if status != 200 else 0.0))
        connection.close()


def _version(status: int, data: bytes, rows: int) -> int | None:
    """The one version a success body names, if it has a prediction per instance."""
    try:
        body = orjson.loads(data) if status == 200 else {}
        version, predictions = body["model"]["version"], body["predictions"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    ok = isinstance(version, int) and isinstance(predictions, list) and len(predictions) == rows
    return version if ok else None
