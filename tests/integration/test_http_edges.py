"""`predict_batch` at its edges: HEAD, gzip bodies, compression bombs, other encodings."""

from __future__ import annotations

import gzip
import re

import pytest

from tests.clients import function_client
from tests.unit.test_bodies import zero_bomb

pytestmark = pytest.mark.emulators
BODY = b'{"instances": [[0.5], [0.2]]}'


@pytest.fixture
def client(serving_env, repository_root):
    return function_client("predict_batch")


@pytest.mark.parametrize(
    "path", ["/health", "/model", "/openapi.json", "/batch/[0.5,0.2]", "/stream/0.5"]
)
def test_head_answers_as_get_without_the_body(client, production, path):
    get = client.get(path)
    head = client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "application/json"
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_head_of_an_error_is_the_error_without_the_body(client, production):
    head = client.head("/batch/[0.5]?version=99")
    assert head.status_code == 404
    assert head.content == b""


@pytest.mark.parametrize(
    ("method", "allowed"), [("HEAD", "POST"), ("POST", "GET, HEAD"), ("TRACE", "POST")]
)
def test_405_names_head_where_get_is_allowed(client, production, method, allowed):
    path = "/predict" if allowed == "POST" else "/health"
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize(
    ("content_type", "plain"), [("application/json", BODY), ("text/csv", b"bmi\n0.5\n0.2\n")]
)
def test_a_gzipped_body_predicts_as_the_plain_one(client, production, content_type, plain):
    expected = client.post("/predict", content=plain, headers={"Content-Type": content_type})
    gzipped = client.post(
        "/predict",
        content=gzip.compress(plain),
        headers={"Content-Type": content_type, "Content-Encoding": "gzip"},
    )
    assert gzipped.status_code == expected.status_code == 200
    assert gzipped.json() == expected.json()


def test_a_compression_bomb_is_413(client, production, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", str(2**20))
    bomb = zero_bomb(512 * 2**20)  # half a GiB decompressed, about half a MiB sent
    response = client.post(
        "/predict",
        content=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": 413,
        "status": "PAYLOAD_TOO_LARGE",
        "message": f"the body is over the limit of {2**20} bytes",
    }


@pytest.mark.parametrize("encoding", ["br", "deflate", "x-gzip, br"])
def test_other_encodings_are_415(client, production, encoding):
    response = client.post(
        "/predict",
        content=BODY,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 415
    assert response.json()["error"]["status"] == "UNSUPPORTED_MEDIA_TYPE"
    assert f"content encoding {encoding} is not supported" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/nowhere%0A", "/robots.txt", "/favicon.ico"])
def test_a_path_the_framework_would_answer_itself_is_our_json_404(client, production, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_a_path_with_a_line_break_carries_its_request_id(client, production):
    """Every answer carries X-Request-Id (docs/http.md), this one too: found by make soak."""
    echoed = client.get("/stream/%0D%0AX-Injected:%201", headers={"X-Request-Id": "r-1"})
    assert echoed.status_code == 400  # not an instance
    assert "X-Injected" not in echoed.headers
    assert echoed.headers["X-Request-Id"] == "r-1"
    fresh = client.get("/health%0A")
    assert fresh.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-Id"])


def test_a_prediction_that_overflows_is_400(client, production):
    response = client.post(
        "/predict", content="1.7976931348623155e+308", headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 400
    assert "not a finite number" in response.json()["error"]["message"]
