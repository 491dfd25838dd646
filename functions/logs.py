"""Structured logs: one JSON line per event, which Cloud Logging parses from stdout."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import orjson


def emit(severity: str, message: str, **fields: Any) -> None:
    record = {
        "severity": severity,
        "message": message,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        **fields,
    }
    line = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    sys.stdout.buffer.write(line)
    sys.stdout.flush()


def info(message: str, **fields: Any) -> None:
    emit("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    emit("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    emit("ERROR", message, **fields)


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
    """The one line every function writes per request (CONTRACT section 8)."""
    emit(
        severity,
        message,
        component=component,
        request_id=request_id,
        model_version=model_version,
        latency_ms=round(latency_ms, 3),
        **fields,
    )
