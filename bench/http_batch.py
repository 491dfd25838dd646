"""Batches end to end: POST /predict over one keep-alive connection, rows per second."""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Mapping

import orjson

from bench.timing import throughput

TRIAL_SECONDS = 0.5
TIMEOUT = 120.0


class BatchClient:
    """One persistent connection; every answer is read whole before the next request.
    path: /predict, or with a query (/predict?version=N pins a model version)."""

    def __init__(self, url: str, path: str = "/predict") -> None:
        parts = urllib.parse.urlsplit(url)
        self._path = path
        self._connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT
        )

    def post(self, body: bytes, content_type: str) -> bytes:
        return self.exchange(body, {"Content-Type": content_type})[0]

    def exchange(self, body: bytes, headers: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
        """POST body with headers; the answer's body and headers (by lower-case name)."""
        self._connection.request("POST", self._path, body=body, headers=dict(headers))
        response = self._connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {self._path} answered {response.status}: {answer[:200]!r}")
        return answer, {name.lower(): value for name, value in response.getheaders()}

    def close(self) -> None:
        self._connection.close()


def check(client: BatchClient, body: bytes, content_type: str, rows: int) -> None:
    """One request whose answer must hold a prediction per instance."""
    answer = orjson.loads(client.post(body, content_type))
    if len(answer["predictions"]) != rows:
        raise RuntimeError(f"{rows} instances got {len(answer['predictions'])} predictions")


def trial(client: BatchClient, body: bytes, content_type: str, rows: int) -> float:
    """Rows per second of back-to-back requests for TRIAL_SECONDS (at least one)."""
    return throughput(lambda: client.post(body, content_type), rows, 1, TRIAL_SECONDS)[0]
