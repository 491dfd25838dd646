"""One error hierarchy for serving; each class names its HTTP status.

The HTTP function turns these into responses in one place, the stream function into error
results in one place; `is_transient` alone decides what deserves a retry.
"""

from __future__ import annotations

import http.client
from http import HTTPStatus
from typing import Any

import requests
import urllib3
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage.exceptions import InvalidResponse


class ServingError(Exception):
    code = 500
    status = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status, "message": self.message}


class InvalidArgument(ServingError):
    code = 400
    status = "INVALID_ARGUMENT"


class NotFound(ServingError):
    code = 404
    status = "NOT_FOUND"


class MethodNotAllowed(ServingError):
    code = 405
    status = "METHOD_NOT_ALLOWED"

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


class PayloadTooLarge(ServingError):
    code = 413
    status = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ServingError):
    code = 415
    status = "UNSUPPORTED_MEDIA_TYPE"


class BackendUnavailable(ServingError):
    """Pub/Sub or Cloud Storage failed; nothing was lost, the client should retry later."""

    code = 503
    status = "UNAVAILABLE"


class ModelUnavailable(ServingError):
    """No model can be served right now; the client should retry later."""

    code = 503
    status = "UNAVAILABLE"


# What a later attempt may not meet, as google-cloud-storage's retry.py decides it: these
# HTTP statuses (gRPC errors carry their HTTP equivalent), and failures of the transport.
_TRANSIENT_STATUS_CODES = frozenset(
    {
        HTTPStatus.REQUEST_TIMEOUT,
        HTTPStatus.TOO_MANY_REQUESTS,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.BAD_GATEWAY,
        HTTPStatus.SERVICE_UNAVAILABLE,
        HTTPStatus.GATEWAY_TIMEOUT,
    }
)
_TRANSPORT_ERRORS = (
    ConnectionError,
    TimeoutError,  # also what a publish future's result(timeout=...) raises
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    http.client.HTTPException,
    urllib3.exceptions.HTTPError,
)
# Raised by the Google client libraries: a backend answered, or could not be reached.
_BACKEND_ERRORS = (
    api_exceptions.GoogleAPICallError,
    api_exceptions.RetryError,
    auth_exceptions.GoogleAuthError,
    InvalidResponse,
    *_TRANSPORT_ERRORS,
)


def is_transient(error: BaseException) -> bool:
    """True when retrying the same request later may succeed."""
    if isinstance(error, ModelUnavailable):
        return True
    if isinstance(error, auth_exceptions.GoogleAuthError):
        # google-auth says so itself, or wraps the transport's own error: judge that one.
        if error.retryable:
            return True
        cause = error.__cause__ or next(
            (arg for arg in error.args if isinstance(arg, BaseException)), None
        )
        if cause is not None:
            return is_transient(cause)
        return isinstance(error, auth_exceptions.TransportError)
    if isinstance(error, api_exceptions.RetryError):
        # The client's own retries gave up on errors they judged retryable.
        return error.cause is None or is_transient(error.cause)
    if isinstance(error, api_exceptions.GoogleAPICallError):
        return error.code in _TRANSIENT_STATUS_CODES
    if isinstance(error, InvalidResponse):
        return getattr(error.response, "status_code", None) in _TRANSIENT_STATUS_CODES
    return isinstance(error, _TRANSPORT_ERRORS)


def is_backend_failure(error: BaseException) -> bool:
    """A storage or messaging failure of any kind (401 and 403 included), as opposed to a
    bad request or a bug in this code."""
    return isinstance(error, _BACKEND_ERRORS)
