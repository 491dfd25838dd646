from __future__ import annotations

import http.client

import pytest
import requests
import urllib3
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage.exceptions import InvalidResponse

from functions.platform.errors import (
    InvalidArgument,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
    ServingError,
    is_backend_failure,
    is_transient,
)


def status_error(code: int) -> api_exceptions.GoogleAPICallError:
    return api_exceptions.from_http_status(code, f"status {code}")


def invalid_response(code: int) -> InvalidResponse:
    response = requests.Response()
    response.status_code = code
    return InvalidResponse(response, "resumable upload failed")


@pytest.mark.parametrize(
    "error",
    [
        ModelUnavailable("no model"),
        *(status_error(code) for code in (408, 429, 500, 502, 503, 504)),
        api_exceptions.DeadlineExceeded("slow"),  # gRPC, carries 504
        api_exceptions.RetryError("gave up", cause=None),
        api_exceptions.RetryError("gave up", cause=api_exceptions.ServiceUnavailable("down")),
        auth_exceptions.TransportError(requests.ConnectionError("metadata server away")),
        # How google-auth reports a failed token fetch from the metadata server.
        auth_exceptions.RefreshError(auth_exceptions.TransportError("Failed to retrieve token")),
        invalid_response(503),
        requests.ConnectionError("refused"),
        requests.exceptions.ChunkedEncodingError("cut"),
        http.client.IncompleteRead(b""),
        urllib3.exceptions.ProtocolError("reset"),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
    ids=repr,
)
def test_backend_failures_a_retry_may_not_meet_are_transient(error):
    assert is_transient(error)
    assert isinstance(error, ModelUnavailable) or is_backend_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        *(status_error(code) for code in (400, 401, 403, 404, 409, 412)),
        api_exceptions.RetryError("gave up", cause=api_exceptions.Forbidden("no")),
        auth_exceptions.TransportError(ValueError("malformed token response")),
        auth_exceptions.RefreshError("revoked"),
        invalid_response(403),
    ],
    ids=repr,
)
def test_backend_refusals_are_backend_failures_but_not_transient(error):
    assert not is_transient(error)
    assert is_backend_failure(error)


@pytest.mark.parametrize(
    "error",
    [InvalidArgument("bad"), NotFound("no version"), PayloadTooLarge("big"), ValueError("bug")],
    ids=repr,
)
def test_request_errors_and_bugs_are_neither(error):
    assert not is_transient(error)
    assert not is_backend_failure(error)


def test_errors_have_the_contract_shape():
    assert InvalidArgument("instances[3][0]: not a finite number").to_dict() == {
        "code": 400,
        "status": "INVALID_ARGUMENT",
        "message": "instances[3][0]: not a finite number",
    }
    assert ServingError("x").code == 500
