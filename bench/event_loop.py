"""A small request beside a large one on predict_batch's event loop: the facts OFFLOAD_BYTES
is chosen from (docs/performance.md).

- `hop_us`: what moving a request's work to a worker thread costs (`run_in_threadpool` of
  a function that does nothing, awaited on the server's kind of loop);
- `probe_during_batch`: the latency of `GET /health` probes sent one after another while
  100,000-row batches are answered, by predict_batch as shipped and by a second
  predict_batch with OFFLOAD_BYTES so high that every request is answered on the loop.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import anyio
import uvloop
from starlette.concurrency import run_in_threadpool

from bench.http_batch import BatchClient, check
from bench.payloads import payload
from bench.timing import median

ROWS = 100_000
BATCHES = 5
HOPS = 2_000


def measure(urls: Mapping[str, str], features: tuple[str, ...]) -> dict[str, Any]:
    body = payload(ROWS, features).json
    return {
        "hop_us": round(hop_us(), 1),
        "probe_during_batch": {name: _probes(url, body) for name, url in urls.items()},
        "batch_rows": ROWS,
    }


def hop_us() -> float:
    """Microseconds per awaited hop to the thread pool and back, median of 5 rounds."""

    async def rounds() -> list[float]:
        found = []
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(HOPS):
                await run_in_threadpool(int)
            found.append((time.perf_counter() - began) / HOPS * 1e6)
        return found

    return median(anyio.run(rounds, backend_options={"loop_factory": uvloop.new_event_loop}))


def _probes(url: str, body: bytes) -> dict[str, Any]:
    """Probe latencies (ms) while BATCHES batches are answered one after another."""
    parts = urllib.parse.urlsplit(url)
    probe = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    batches = BatchClient(url)
    check(batches, body, "application/json", ROWS)  # warm: the model loaded
    latencies: list[float] = []
    batch_ms: list[float] = []

    def send() -> None:
        for _ in range(BATCHES):
            began = time.perf_counter()
            batches.post(body, "application/json")
            batch_ms.append((time.perf_counter() - began) * 1000)

    sender = threading.Thread(target=send)
    sender.start()
    while sender.is_alive():
        began = time.perf_counter()
        probe.request("GET", "/health")
        probe.getresponse().read()
        latencies.append((time.perf_counter() - began) * 1000)
    sender.join()
    probe.close()
    batches.close()
    latencies.sort()
    return {
        "probes": len(latencies),
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2),
        "max_ms": round(latencies[-1], 2),
        "batch_ms": round(median(batch_ms), 1),
    }
