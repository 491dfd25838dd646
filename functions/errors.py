"""One error hierarchy for serving; each class names its HTTP status.

The HTTP function turns these into responses in one place, the stream function into error
results in one place; `is_transient` alone decides what deserves a retry.
"""

from __future__ import annotations

from typing import Any

import requests
from google.api_core import exceptions as api_exceptions


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


class ModelUnavailable(ServingError):
    """No model can be served right now; the client should retry later."""

    code = 503
    status = "UNAVAILABLE"


# Failures of the storage or messaging backends that a later attempt may not meet.
_TRANSIENT_BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.InternalServerError,
    api_exceptions.TooManyRequests,
    api_exceptions.DeadlineExceeded,
    api_exceptions.BadGateway,
    api_exceptions.GatewayTimeout,
    api_exceptions.RetryError,
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    """True when retrying the same request later may succeed."""
    return isinstance(error, (ModelUnavailable, *_TRANSIENT_BACKEND_ERRORS))


def is_backend_failure(error: BaseException) -> bool:
    """A storage or messaging failure, as opposed to a bad request or a bug."""
    return isinstance(error, _TRANSIENT_BACKEND_ERRORS)
