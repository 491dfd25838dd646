"""`predict_batch` at its edges: HEAD, gzip bodies, compression bombs, other encodings."""

from __future__ import annotations

import gzip
import re

import pytest
from functions_framework import create_app

from tests.unit.test_bodies import zero_bomb

pytestmark = pytest.mark.emulators
BODY = b'{"instances": [[0.5], [0.2]]}'


@pytest.fixture
def client(serving_env, repository_root):
    return create_app("predict_batch", str(repository_root / "main.py")).test_client()


@pytest.mark.parametrize(
    "path", ["/health", "/model", "/openapi.json", "/batch/[0.5,0.2]", "/stream/0.5"]
)
def test_head_answers_as_get_without_the_body(client, production, path):
    get = client.get(path)
    head = client.head(path)
    assert get.status_code == head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "application/json"
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_head_of_an_error_is_the_error_without_the_body(client, production):
    head = client.head("/batch/[0.5]?version=99")
    assert head.status_code == 404
    assert head.data == b""


@pytest.mark.parametrize(("method", "allowed"), [("head", "POST"), ("post", "GET, HEAD")])
def test_405_names_head_where_get_is_allowed(client, production, method, allowed):
    path = "/predict" if allowed == "POST" else "/health"
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize(
    ("content_type", "plain"), [("application/json", BODY), ("text/csv", b"bmi\n0.5\n0.2\n")]
)
def test_a_gzipped_body_predicts_as_the_plain_one(client, production, content_type, plain):
    expected = client.post("/predict", data=plain, content_type=content_type)
    gzipped = client.post(
        "/predict",
        data=gzip.compress(plain),
        headers={"Content-Type": content_type, "Content-Encoding": "gzip"},
    )
    assert gzipped.status_code == expected.status_code == 200
    assert gzipped.get_json() == expected.get_json()


def test_a_compression_bomb_is_413(client, production, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", str(2**20))
    bomb = zero_bomb(512 * 2**20)  # half a GiB decompressed, about half a MiB sent
    response = client.post(
        "/predict",
        data=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == {
        "code": 413,
        "status": "PAYLOAD_TOO_LARGE",
        "message": f"the body is over the limit of {2**20} bytes",
    }


@pytest.mark.parametrize("encoding", ["br", "deflate", "x-gzip, br"])
def test_other_encodings_are_415(client, production, encoding):
    response = client.post(
        "/predict",
        data=BODY,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 415
    assert response.get_json()["error"]["status"] == "UNSUPPORTED_MEDIA_TYPE"
    assert (
        f"content encoding {encoding} is not supported" in response.get_json()["error"]["message"]
    )


def test_a_path_the_framework_cannot_route_is_our_json_404(client, production):
    response = client.get("/batch/%0A")
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == "NOT_FOUND"


def test_a_path_the_framework_cannot_route_carries_its_request_id(client, production):
    """Every answer carries X-Request-Id (docs/http.md), this one too: found by make soak."""
    echoed = client.get("/stream/%0D%0AX-Injected:%201", headers={"X-Request-Id": "r-1"})
    assert echoed.status_code == 404
    assert echoed.headers["X-Request-Id"] == "r-1"
    fresh = client.get("/health%0A")
    assert fresh.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["X-Request-Id"])


def test_a_prediction_that_overflows_is_400(client, production):
    response = client.post("/predict", data="1.7976931348623155e+308", content_type="text/csv")
    assert response.status_code == 400
    assert "not a finite number" in response.get_json()["error"]["message"]
