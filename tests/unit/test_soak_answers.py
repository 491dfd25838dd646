"""soak/answers.py: which HTTP answers and stream results the documents allow."""

from __future__ import annotations

import orjson
import pytest

from functions.config import Settings
from functions.openapi import document
from soak.answers import Documented, stream_result_problem

DOCUMENTED = Documented(document(Settings()))
JSON_HEADERS = {"Content-Type": "application/json", "X-Request-Id": "r-1"}
ERROR_400 = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}}
PREDICTION = {"predictions": [1.5], "model": {"name": "m", "version": 2}}


def body(value: object) -> bytes:
    return orjson.dumps(value)


@pytest.mark.parametrize(
    ("method", "path", "status", "answer"),
    [
        ("GET", "/health", 200, {"status": "ok"}),
        ("POST", "/predict", 200, PREDICTION),
        ("POST", "/predict/", 400, ERROR_400),
        ("GET", "/batch/%5B0.1%5D", 400, ERROR_400),
        ("GET", "/nowhere", 404, {"error": {"code": 404, "status": "NOT_FOUND", "message": "x"}}),
    ],
)
def test_documented_answers_pass(method, path, status, answer):
    assert DOCUMENTED.http_problem(method, path, status, JSON_HEADERS, body(answer)) is None


@pytest.mark.parametrize(
    ("method", "path", "status", "headers", "answer", "problem"),
    [
        ("GET", "/health", 500, JSON_HEADERS, ERROR_400, "status 500 is not documented"),
        ("GET", "/health", 404, JSON_HEADERS, ERROR_400, "status 404 is not documented"),
        ("GET", "/nowhere", 400, JSON_HEADERS, ERROR_400, "status 400 is not documented"),
        ("GET", "/health", 200, {"Content-Type": "application/json"}, {}, "without X-Request-Id"),
        ("PUT", "/health", 405, JSON_HEADERS, ERROR_400, "without Allow"),
        ("GET", "/health", 200, {**JSON_HEADERS, "Content-Type": "text/html"}, {}, "Content-Type"),
        ("GET", "/health", 200, JSON_HEADERS, {"status": "ok", "x": 1}, "off its schema"),
        ("POST", "/predict", 400, JSON_HEADERS, {"error": "bad"}, "off its schema"),
        ("POST", "/predict", 415, JSON_HEADERS, ERROR_400, "error code 400 in a 415 answer"),
    ],
)
def test_undocumented_answers_are_found(method, path, status, headers, answer, problem):
    found = DOCUMENTED.http_problem(method, path, status, headers, body(answer))
    assert found is not None
    assert problem in found


def test_a_head_answer_has_no_body():
    assert DOCUMENTED.http_problem("HEAD", "/health", 200, JSON_HEADERS, b"") is None
    assert DOCUMENTED.http_problem("HEAD", "/health", 200, JSON_HEADERS, b"{}") is not None


def result(status: str, **fields: object) -> tuple[bytes, dict[str, str]]:
    version = str(PREDICTION["model"]["version"]) if status == "ok" else ""  # type: ignore[index]
    attributes = {"request_id": "r-1", "status": status, "model_version": version}
    return body({"request_id": "r-1", "status": status, **fields}), attributes


def test_documented_stream_results_pass():
    assert stream_result_problem(DOCUMENTED, *result("ok", **PREDICTION)) is None
    assert stream_result_problem(DOCUMENTED, *result("error", **ERROR_400)) is None


def test_undocumented_stream_results_are_found():
    unavailable = {"error": {"code": 503, "status": "UNAVAILABLE", "message": "later"}}
    data, attributes = result("ok", **PREDICTION)
    assert "transient" in (stream_result_problem(DOCUMENTED, *result("error", **unavailable)) or "")
    assert stream_result_problem(DOCUMENTED, data, {**attributes, "request_id": "r-2"})
    assert stream_result_problem(DOCUMENTED, data, {**attributes, "model_version": "9"})
    assert stream_result_problem(DOCUMENTED, *result("ok", predictions=[1.0]))
    assert stream_result_problem(DOCUMENTED, b"not json", attributes)
