"""`predict_batch` through functions-framework's test client, against fake-gcs-server."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.platform import runtime
from infra.names import MODEL_NAME as MODEL
from model.artifact import LinearWeights
from model.registry import Registry
from tests.clients import function_client

pytestmark = pytest.mark.emulators


@pytest.fixture
def client(serving_env, repository_root):
    return function_client("predict_batch")


@pytest.fixture
def promoted(registry: Registry, trained_artifact, production):
    """Version 1 in production, and a version 2 with other weights, not promoted."""
    v1 = production
    weights = trained_artifact.predictor
    other = LinearWeights(weights.weights, weights.bias + 100.0)
    v2 = registry.register(replace(trained_artifact, predictor=other), {})
    return v1, v2


def expected(artifact, rows):
    return artifact.predict(np.array(rows, dtype=np.float64)).tolist()


def error_of(response, code: int, status: str, message: str) -> None:
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert message in error["message"]


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/", "/predict"])
def test_json_lists_and_objects(client, promoted, path):
    v1, _ = promoted
    for instances in ([[0.5], [0.2]], [{"bmi": 0.5}, {"bmi": 0.2}]):
        response = client.post(path, json={"instances": instances})
        assert response.status_code == 200
        body = response.json()
        assert body["predictions"] == pytest.approx(expected(v1, [[0.5], [0.2]]))
        assert body["model"] == {"name": MODEL, "version": 1}


@pytest.mark.parametrize("csv", ["0.5\n0.2\n", "bmi\n0.5\n0.2\n", "bmi\r\n0.5\r\n0.2"])
def test_csv_with_or_without_header(client, promoted, csv):
    v1, _ = promoted
    response = client.post("/predict", content=csv, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.json()["predictions"] == pytest.approx(expected(v1, [[0.5], [0.2]]))


def test_legacy_urls(client, promoted):
    v1, _ = promoted
    batch = client.get("/batch/[0.5,0.2,0.6]").json()
    assert batch["predictions"] == pytest.approx(expected(v1, [[0.5], [0.2], [0.6]]))
    stream = client.get("/stream/0.5").json()
    assert stream["predictions"] == pytest.approx(expected(v1, [[0.5]]))


def test_model_describes_the_served_version(client, promoted):
    v1, _ = promoted
    body = client.get("/model").json()
    assert body["name"] == MODEL
    assert body["version"] == 1
    assert body["features"] == ["bmi"]
    assert body["metrics"]["r2"] == pytest.approx(v1.metrics["r2"])
    assert body["created_at"] == v1.lineage["created_at"]
    assert client.get("/model?version=2").json()["version"] == 2


def test_version_and_alias_pin_the_model(client, promoted, registry):
    _, v2 = promoted
    pinned = client.post("/predict?version=2", json={"instances": [[0.5]]}).json()
    assert pinned["model"]["version"] == 2
    assert pinned["predictions"] == pytest.approx(expected(v2, [[0.5]]))
    registry.promote(MODEL, 2, alias="staging")
    assert client.get("/stream/0.5?alias=staging").json()["model"]["version"] == 2


def test_a_large_batch_is_answered_in_order(client, promoted):
    v1, _ = promoted
    rows = np.random.default_rng(0).normal(size=(100_000, 1))
    response = client.post("/predict", json={"instances": rows.tolist()})
    assert response.status_code == 200
    assert np.allclose(response.json()["predictions"], v1.predict(rows))


@pytest.mark.parametrize(
    ("request_args", "code", "status", "message"),
    [
        (
            {"content": "{", "headers": {"Content-Type": "application/json"}},
            400,
            "INVALID_ARGUMENT",
            "malformed JSON",
        ),
        (
            {"content": "", "headers": {"Content-Type": "application/json"}},
            400,
            "INVALID_ARGUMENT",
            "empty",
        ),
        ({"json": {"instances": []}}, 400, "INVALID_ARGUMENT", "instances is empty"),
        ({"json": {"rows": [[1]]}}, 400, "INVALID_ARGUMENT", '"instances"'),
        ({"json": {"instances": [[0.5, 1]]}}, 400, "INVALID_ARGUMENT", "instances[0]: expected 1"),
        ({"json": {"instances": [[0.5], ["x"]]}}, 400, "INVALID_ARGUMENT", "instances[1][0]"),
        ({"json": {"instances": [[False]]}}, 400, "INVALID_ARGUMENT", "boolean"),
        ({"json": {"instances": [{"age": 1}]}}, 400, "INVALID_ARGUMENT", "missing features"),
        (
            {"content": "bmi\nx\n", "headers": {"Content-Type": "text/csv"}},
            400,
            "INVALID_ARGUMENT",
            "not a number",
        ),
        (
            {"content": "inf\n", "headers": {"Content-Type": "text/csv"}},
            400,
            "INVALID_ARGUMENT",
            "not a finite",
        ),
        (
            {"content": "bmi=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "application/json or text/csv",
        ),
        ({"content": "0.5"}, 415, "UNSUPPORTED_MEDIA_TYPE", "none"),
    ],
)
def test_bad_bodies_get_clear_errors(client, promoted, request_args, code, status, message):
    error_of(client.post("/predict", **request_args), code, status, message)


@pytest.mark.parametrize(
    ("path", "code", "status", "message"),
    [
        ("/batch/[0.5,true]", 400, "INVALID_ARGUMENT", "instances[1]"),
        ("/batch/0.5)", 400, "INVALID_ARGUMENT", "JSON numbers"),
        ("/stream/abc", 400, "INVALID_ARGUMENT", "JSON numbers"),
        ("/batch/[0.5]?version=1.5", 400, "INVALID_ARGUMENT", "whole number"),
        ("/batch/[0.5]?version=1&alias=production", 400, "INVALID_ARGUMENT", "not both"),
        ("/batch/[0.5]?alias=no/such", 400, "INVALID_ARGUMENT", "alias"),
        ("/batch/[0.5]?version=99", 404, "NOT_FOUND", "no version 99"),
        ("/batch/[0.5]?alias=canary", 404, "NOT_FOUND", "no alias 'canary'"),
        ("/nowhere", 404, "NOT_FOUND", "no route"),
    ],
)
def test_bad_urls_get_clear_errors(client, promoted, path, code, status, message):
    error_of(client.get(path), code, status, message)


def test_wrong_method_is_405_with_allow(client, promoted):
    response = client.get("/predict")
    error_of(response, 405, "METHOD_NOT_ALLOWED", "POST only")
    assert response.headers["Allow"] == "POST"
    error_of(client.post("/health"), 405, "METHOD_NOT_ALLOWED", "GET or HEAD only")


def test_limits_are_413(client, promoted, monkeypatch):
    monkeypatch.setenv("MAX_INSTANCES", "3")
    monkeypatch.setenv("MAX_BODY_BYTES", "200")
    runtime.reset()
    error_of(
        client.post("/predict", json={"instances": [[1]] * 4}),
        413,
        "PAYLOAD_TOO_LARGE",
        "limit is 3",
    )
    error_of(
        client.post("/predict", content="1\n" * 4, headers={"Content-Type": "text/csv"}),
        413,
        "PAYLOAD_TOO_LARGE",
        "limit is 3",
    )
    big = json.dumps({"instances": [[0.123456789]] * 3, "pad": "x" * 300})
    # Over the byte limit: refused before the body is parsed (it would be a 400 otherwise).
    error_of(
        client.post("/predict", content=big, headers={"Content-Type": "application/json"}),
        413,
        "PAYLOAD_TOO_LARGE",
        "200",
    )
    error_of(client.get("/batch/[1,2,3,4]"), 413, "PAYLOAD_TOO_LARGE", "limit is 3")


def test_no_model_is_503_with_retry_after(client):
    for response in (client.get("/stream/0.5"), client.get("/model")):
        error_of(response, 503, "UNAVAILABLE", "promoted")
        assert int(response.headers["Retry-After"]) > 0
    assert client.get("/health").status_code == 200


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "text/csv"]))
def test_junk_never_yields_a_5xx(client, promoted, body, content_type):
    response = client.post("/predict", content=body, headers={"Content-Type": content_type})
    assert response.status_code in (200, 400)
    assert response.headers["content-type"] == "application/json"


def test_a_bad_body_is_refused_before_any_model_is_looked_up(client, monkeypatch):
    def no_storage() -> None:
        raise AssertionError("the model cache was asked for")

    monkeypatch.setattr(runtime, "model_cache", no_storage)
    response = client.post("/predict", content=b"{", headers={"Content-Type": "application/json"})
    error_of(response, 400, "INVALID_ARGUMENT", "malformed JSON")
