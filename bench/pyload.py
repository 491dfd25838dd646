"""A lean HTTP/1.1 load client on asyncio streams, used when wrk is not installed.

Each connection sends a prepared POST, reads the head and the Content-Length body, and
goes again until the deadline: the same closed loop as wrk, at a higher cost per request.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from dataclasses import dataclass, field

from bench.timing import percentile


@dataclass
class Measured:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000 if self.latencies else 0.0


def run(url: str, body: bytes, connections: int, seconds: float) -> Measured:
    return asyncio.run(_run(url, body, connections, seconds))


async def _run(url: str, body: bytes, connections: int, seconds: float) -> Measured:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")  # ?version=N
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    request = head.encode() + body
    measured = Measured()
    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(
        *(_connection(host, port, request, deadline, measured) for _ in range(connections))
    )
    measured.seconds = time.perf_counter() - began
    return measured


async def _connection(
    host: str, port: int, request: bytes, deadline: float, measured: Measured
) -> None:
    while time.perf_counter() < deadline:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            measured.errors += 1
            await asyncio.sleep(0.01)
            continue
        try:
            await _requests(reader, writer, request, deadline, measured)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            measured.errors += 1  # the server closed the connection: open another
        finally:
            writer.close()


async def _requests(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
    deadline: float,
    measured: Measured,
) -> None:
    while (start := time.perf_counter()) < deadline:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(_content_length(head))
        measured.latencies.append(time.perf_counter() - start)
        if not head.startswith(b"HTTP/1.1 2"):
            measured.errors += 1


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("an answer without Content-Length")
