"""JSON as the functions send it: answers, results and error bodies, the same bytes everywhere."""

from __future__ import annotations

from typing import Any

import orjson

from functions.platform.errors import ServingError

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def error_body(error: ServingError) -> dict[str, Any]:
    """`{"error": {"code", "status", "message"}}`, for HTTP and stream results alike."""
    return {"error": error.to_dict()}


def to_json(document: object) -> bytes:
    """Bodies and results as bytes; numpy arrays are written without a copy to lists."""
    return orjson.dumps(document, option=_JSON_OPTIONS)
