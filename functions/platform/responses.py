"""JSON answers of the HTTP functions, and the one place where a ServingError meets HTTP."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from functions.platform import runtime
from functions.platform.errors import MethodNotAllowed, ServingError
from functions.platform.json_bodies import error_body, to_json

JSON = "application/json"


class JsonResponse(Response):
    """A JSON answer with only the headers it needs, built without Starlette's header
    bookkeeping: it is on every request's path."""

    media_type = JSON

    def __init__(self, body: bytes, status: int) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]


def json_response(status: int, body: object) -> Response:
    return JsonResponse(to_json(body), status)


def error_response(
    error: ServingError, shape: Callable[[ServingError], object] = error_body
) -> Response:
    """`{"error": {...}}` (or another shape) with the error's status; `Allow` on a 405,
    `Retry-After` on a 503."""
    response = json_response(error.code, shape(error))
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(error.allowed)
    if error.code == 503:  # unavailable for now, whatever the backend: say when to come back
        response.headers["Retry-After"] = str(runtime.settings().retry_after_seconds)
    return response
