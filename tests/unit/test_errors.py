from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as api_exceptions

from functions.errors import (
    InvalidArgument,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
    ServingError,
    is_transient,
)


@pytest.mark.parametrize(
    "error",
    [
        ModelUnavailable("no model"),
        api_exceptions.ServiceUnavailable("down"),
        api_exceptions.DeadlineExceeded("slow"),
        api_exceptions.RetryError("gave up", cause=None),
        requests.ConnectionError("refused"),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
)
def test_backend_failures_are_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        InvalidArgument("bad"),
        NotFound("no version"),
        PayloadTooLarge("big"),
        api_exceptions.NotFound("no topic"),
        api_exceptions.PermissionDenied("no"),
        ValueError("bug"),
    ],
)
def test_request_errors_and_bugs_are_not_transient(error):
    assert not is_transient(error)


def test_errors_have_the_contract_shape():
    assert InvalidArgument("instances[3][0]: not a finite number").to_dict() == {
        "code": 400,
        "status": "INVALID_ARGUMENT",
        "message": "instances[3][0]: not a finite number",
    }
    assert ServingError("x").code == 500
