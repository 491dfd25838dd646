"""The same bad input through HTTP and through the stream: the same code, status and message.

HTTP goes through functions-framework's test client, the stream through real CloudEvents
whose results are read back from the Pub/Sub emulator.
"""

from __future__ import annotations

import gzip
import json

import pytest

from functions.serving import stream
from tests.clients import function_client
from tests.pubsub_helpers import message, push_event

pytestmark = pytest.mark.emulators
MAX_BODY_BYTES = 400
MAX_INSTANCES = 3


def bomb() -> bytes:
    """A valid body padded with spaces: 1 MiB once decompressed, about 1 KiB as sent."""
    return gzip.compress(b'{"instances": [[0.5]]' + b" " * 2**20 + b"}")


# (name, body, content type, content encoding, version, alias)
BAD_INPUTS = [
    ("malformed JSON", b"not json", "application/json", None, None, None),
    ("empty", b"", "application/json", None, None, None),
    ("NaN", b'{"instances": [[NaN]]}', "application/json", None, None, None),
    ("not an object", b"[[0.5]]", "application/json", None, None, None),
    ("too wide", b'{"instances": [[0.5, 1]]}', "application/json", None, None, None),
    ("boolean", b'{"instances": [[true]]}', "application/json", None, None, None),
    ("missing feature", b'{"instances": [{"age": 1}]}', "application/json", None, None, None),
    ("too many", b'{"instances": [[1], [2], [3], [4]]}', "application/json", None, None, None),
    ("too many bytes", b'{"instances": [[1]]}' + b" " * 400, "application/json", None, None, None),
    ("CSV cell", b"bmi\nx\n", "text/csv", None, None, None),
    ("overflow", b"1.7976931348623155e+308\n", "text/csv", None, None, None),
    ("CSV rows", b"1\n2\n3\n4\n", "text/csv", None, None, None),
    ("media type", b'{"instances": [[0.5]]}', "application/xml", None, None, None),
    ("encoding", b'{"instances": [[0.5]]}', "application/json", "br", None, None),
    ("bad gzip", b"\x1f\x8b\x08 broken", "application/json", "gzip", None, None),
    ("compression bomb", bomb(), "application/json", "gzip", None, None),
    ("version syntax", b'{"instances": [[0.5]]}', "application/json", None, "x", None),
    ("unknown version", b'{"instances": [[0.5]]}', "application/json", None, "7", None),
    ("unknown alias", b'{"instances": [[0.5]]}', "application/json", None, None, "canary"),
    ("alias syntax", b'{"instances": [[0.5]]}', "application/json", None, None, "no/such"),
    ("both", b'{"instances": [[0.5]]}', "application/json", None, "1", "production"),
]


@pytest.fixture
def limits(serving_env, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", str(MAX_BODY_BYTES))
    monkeypatch.setenv("MAX_INSTANCES", str(MAX_INSTANCES))


def through_http(repository_root, body, content_type, encoding, version, alias) -> dict:
    client = function_client("predict_batch")
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    query = {key: value for key, value in (("version", version), ("alias", alias)) if value}
    response = client.post("/predict", content=body, headers=headers, params=query)
    error = response.json()["error"]
    assert response.status_code == error["code"]
    return error


def through_stream(results, body, content_type, encoding, version, alias) -> dict:
    attributes = {"request_id": "parity", "content_type": content_type}
    for key, value in (("content_encoding", encoding), ("version", version), ("alias", alias)):
        if value:
            attributes[key] = value
    stream.handle(push_event(message(body, attributes)))  # returns: acknowledged
    (result,) = results()
    data = json.loads(result.data)
    assert (data["status"], result.attributes["status"]) == ("error", "error")
    return data["error"]


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "version", "alias"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_a_bad_input_gets_the_same_error_through_both_transports(
    repository_root, production, results, limits, body, content_type, encoding, version, alias
):
    http = through_http(repository_root, body, content_type, encoding, version, alias)
    stream = through_stream(results, body, content_type, encoding, version, alias)
    assert http == stream
    assert 400 <= http["code"] < 500


def test_the_limits_are_413_and_415_on_both(repository_root, production, results, limits):
    """The two differences the stream used to have: an over-size body, an unknown type."""
    over = b'{"instances": [[1]]}' + b" " * MAX_BODY_BYTES
    for transport in (through_http, through_stream):
        first = results if transport is through_stream else repository_root
        assert transport(first, over, "application/json", None, None, None)["code"] == 413
        assert transport(first, b"<x/>", "application/xml", None, None, None)["code"] == 415
