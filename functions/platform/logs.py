"""Structured logs: one JSON line per event, which Cloud Logging parses from stdout.

Lines are queued and a background thread writes them every FLUSH_SECONDS (and at exit, and
at once for errors): a write per line, a system call on every request, cost more than the
prediction itself. The queue is ours, so this holds even with PYTHONUNBUFFERED set.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any

import orjson

FLUSH_SECONDS = 0.2
_pending: deque[bytes] = deque()
_flusher: threading.Thread | None = None
_flusher_lock = threading.Lock()
_flush_lock = threading.Lock()


def emit(severity: str, message: str, **fields: Any) -> None:
    fields["severity"] = severity
    fields["message"] = message
    fields["time"] = _timestamp()
    _queue(fields)


def _queue(line: dict[str, Any]) -> None:
    _pending.append(orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE))
    if _flusher is None:
        _start_flusher()


def info(message: str, **fields: Any) -> None:
    emit("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    emit("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    emit("ERROR", message, **fields)
    flush()  # errors are the lines worth having at once


def exception(message: str, **fields: Any) -> None:
    """An ERROR line with the traceback of the exception being handled, which Error
    Reporting reads from the `stack_trace` field."""
    error(message, stack_trace=traceback.format_exc(), **fields)


def request(
    message: str,
    *,
    component: str,
    request_id: str,
    model_version: int | None,
    latency_ms: float,
    severity: str = "INFO",
    **fields: Any,
) -> None:
    """The one line every function writes per request (docs/monitoring.md, "Log lines"):
    built in one dict, as `emit` would, since every request pays for it."""
    _queue(
        {
            "component": component,
            "request_id": request_id,
            "model_version": model_version,
            "latency_ms": round(latency_ms, 3),
            **fields,
            "severity": severity,
            "message": message,
            "time": _timestamp(),
        }
    )


def flush() -> None:
    """Write every queued line; each popleft is atomic, so no line is lost or doubled. One
    flush at a time: when this returns, every line queued before it is written, and lines
    keep their order."""
    with _flush_lock:
        lines = []
        with contextlib.suppress(IndexError):
            while True:
                lines.append(_pending.popleft())
        if not lines:
            return
        with contextlib.suppress(ValueError):  # stdout already closed at interpreter exit
            sys.stdout.buffer.write(b"".join(lines))
            sys.stdout.flush()


def _timestamp() -> str:
    """RFC 3339 with milliseconds in UTC, which Cloud Logging reads as the entry's time."""
    now = time.time()
    return f"{utc_second(int(now))}.{int(now % 1 * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def utc_second(second: int) -> str:
    """RFC 3339 up to the second, UTC: the lines and records of one second share it, so it
    is formatted once."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def _start_flusher() -> None:
    global _flusher
    with _flusher_lock:
        if _flusher is None:
            _flusher = threading.Thread(target=_flush_forever, name="log-flusher", daemon=True)
            _flusher.start()


def _forget_flusher() -> None:
    """A forked child (a gunicorn worker) inherits the variable but not the thread, and the
    flush lock as it was: held, if the parent's thread was writing."""
    global _flusher, _flush_lock
    _flusher = None
    _flush_lock = threading.Lock()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        flush()


atexit.register(flush)
os.register_at_fork(after_in_child=_forget_flusher)
