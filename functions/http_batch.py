"""`predict_batch`: the HTTP function (CONTRACT section 5).

Routing, limits and content types live here; every ServingError becomes a JSON answer in
`_error_response`, the one place where errors meet HTTP.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import flask
import orjson

from functions import logs, runtime, trace
from functions.errors import (
    InvalidArgument,
    MethodNotAllowed,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
    ServingError,
    UnsupportedMediaType,
)
from functions.parsing import (
    Instances,
    decode_batch_path,
    decode_csv,
    decode_json,
    decode_stream_path,
)
from functions.prediction import ModelSelector, Prediction, describe, predict

COMPONENT = "predict_batch"
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_POST_PATHS = ("/", "/predict")
_SERVED = ModelSelector()


def handle(request: flask.Request) -> flask.Response:
    started = time.perf_counter()
    request_id = request.headers.get("X-Request-Id") or os.urandom(16).hex()
    model_version = None
    prediction = None
    try:
        status, body, model_version, prediction = _route(request)
        response = _json_response(status, body)
    except ServingError as error:
        response = _error_response(error)
    except Exception as error:  # a bug: log it, answer without leaking a stack trace
        logs.exception(
            f"unhandled {type(error).__name__}: {error}",
            component=COMPONENT,
            request_id=request_id,
            **trace.fields(request.headers, runtime.settings().project_id),
        )
        response = _error_response(ServingError("internal error"))
    response.headers["X-Request-Id"] = request_id
    latency_ms = (time.perf_counter() - started) * 1000
    if prediction is not None:
        runtime.prediction_log().record("http", request_id, prediction, latency_ms)
    logs.request(
        f"{request.method} {request.path} {response.status_code}",
        component=COMPONENT,
        request_id=request_id,
        model_version=model_version,
        latency_ms=latency_ms,
        severity="INFO" if response.status_code < 500 else "ERROR",
        status=response.status_code,
        **trace.fields(request.headers, runtime.settings().project_id),
    )
    return response


# A route's answer: status, body, the model version used, the prediction made (if any).
_Routed = tuple[int, object, int | None, Prediction | None]


def _route(request: flask.Request) -> _Routed:
    path = request.path.rstrip("/") or "/"
    if path in _POST_PATHS:
        _allow(request, "POST")
        return _predict(request, lambda: _decode_body(request))
    if path == "/health":
        _allow(request, "GET")
        return 200, {"status": "ok"}, None, None
    if path == "/model":
        _allow(request, "GET")
        selector = _selector(request)
        model = runtime.model_cache().get(version=selector.version, alias=selector.alias)
        return 200, describe(model), model.version, None
    limit = runtime.settings().max_instances
    if path.startswith("/batch/"):
        _allow(request, "GET")
        return _predict(request, lambda: decode_batch_path(path.removeprefix("/batch/"), limit))
    if path.startswith("/stream/"):
        _allow(request, "GET")
        return _predict(request, lambda: decode_stream_path(path.removeprefix("/stream/")))
    raise NotFound(f"no route {request.path!r}: use POST /predict, GET /health or GET /model")


def _predict(request: flask.Request, decode: Callable[[], Instances]) -> _Routed:
    selector = _selector(request)  # a bad ?version= is the client's error, found first
    instances = decode()
    prediction = predict(instances, selector, runtime.model_cache())
    return 200, prediction.body(), prediction.model.version, prediction


def _selector(request: flask.Request) -> ModelSelector:
    if not request.query_string:
        return _SERVED  # most requests: skip parsing the query
    return ModelSelector.parse(request.args.get("version"), request.args.get("alias"))


def _allow(request: flask.Request, method: str) -> None:
    if request.method != method:
        raise MethodNotAllowed(
            f"{request.path} accepts {method} only, not {request.method}", (method,)
        )


def _decode_body(request: flask.Request) -> Instances:
    config = runtime.settings()
    # The size limit comes before anything else: never read more than it.
    if request.content_length is not None and request.content_length > config.max_body_bytes:
        raise PayloadTooLarge(
            f"the body has {request.content_length} bytes, the limit is {config.max_body_bytes}"
        )
    mimetype = request.mimetype
    if mimetype not in ("application/json", "text/csv"):
        raise UnsupportedMediaType(
            f"Content-Type {request.content_type or 'none'!s} is not supported: "
            "send application/json or text/csv"
        )
    body = request.stream.read(config.max_body_bytes + 1)
    if len(body) > config.max_body_bytes:
        raise PayloadTooLarge(f"the body is over the limit of {config.max_body_bytes} bytes")
    if not body:
        raise InvalidArgument("the body is empty")
    if mimetype == "text/csv":
        return decode_csv(body, config.max_instances)
    return decode_json(body, config.max_instances)


def _json_response(status: int, body: object) -> flask.Response:
    return flask.Response(
        orjson.dumps(body, option=_JSON_OPTIONS), status=status, mimetype="application/json"
    )


def _error_response(error: ServingError) -> flask.Response:
    response = _json_response(error.code, {"error": error.to_dict()})
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(error.allowed)
    if isinstance(error, ModelUnavailable):
        response.headers["Retry-After"] = str(runtime.settings().retry_after_seconds)
    return response
