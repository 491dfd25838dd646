"""`predict_batch`: the HTTP function (docs/http.md).

HTTP receives a request here and replies here; what lies between is the shared core
(`functions.serving.core`). Every ServingError becomes a JSON answer in
`functions.serving.responses.error_response`, the one place where errors meet HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import flask

from functions.platform import logs, runtime, trace
from functions.platform.config import Settings
from functions.platform.errors import MethodNotAllowed, NotFound, ServingError
from functions.serving import openapi
from functions.serving.bodies import Body
from functions.serving.core import (
    Lap,
    ModelSelector,
    Prediction,
    PredictionRequest,
    describe,
    no_lap,
    predict,
)
from functions.serving.parsing import Instances, decode_batch_path, decode_stream_path
from functions.serving.responses import error_response, json_response
from functions.serving.routes import Route, match

COMPONENT = "predict_batch"


def handle(request: flask.Request, lap: Lap = no_lap) -> flask.Response:
    """The answer to a request; `lap` is told each stage as it ends (bench/stages.py)."""
    started = time.perf_counter()
    environ = request.environ  # headers read from it directly: no header object per request
    request_id = trace.given_or_new_request_id(environ.get("HTTP_X_REQUEST_ID"))
    lap("request_id")
    model_version = None
    prediction = None
    try:
        response, model_version, prediction = _answer(request, request_id, lap)
    except ServingError as error:
        response = error_response(error)
    except Exception as error:  # a bug: log it, answer without leaking a stack trace
        logs.exception(
            f"unhandled {type(error).__name__}: {error}",
            component=COMPONENT,
            request_id=request_id,
            **trace.environ_fields(environ, runtime.settings().project_id),
        )
        response = error_response(ServingError("internal error"))
    latency_ms = (time.perf_counter() - started) * 1000
    if prediction is not None:
        runtime.prediction_log().record(prediction, latency_ms)
        lap("prediction_log_handoff")
    answered = _answered(request, response, request_id, model_version, latency_ms)
    lap("request_log_line")
    return answered


def _answered(
    request: flask.Request,
    response: flask.Response,
    request_id: str,
    model_version: int | None,
    latency_ms: float,
) -> flask.Response:
    """The response with its X-Request-Id, once the request's log line is written."""
    response.headers["X-Request-Id"] = request_id
    logs.request(
        f"{request.method} {request.path} {response.status_code}",
        component=COMPONENT,
        request_id=request_id,
        model_version=model_version,
        latency_ms=latency_ms,
        severity="INFO" if response.status_code < 500 else "ERROR",
        status=response.status_code,
        **trace.environ_fields(request.environ, runtime.settings().project_id),
    )
    return response


def _answer(
    request: flask.Request, request_id: str, lap: Lap
) -> tuple[flask.Response, int | None, Prediction | None]:
    """The answer to a request, the model version that made it and its prediction, if any."""
    route, parameter = route_of(request)
    if route.name not in _DECODERS:
        response, model_version = _other(request, route)
        return response, model_version, None
    predicting = _prediction_request(request, route, parameter, request_id)
    lap("routing")
    prediction = predict(predicting, runtime.settings(), runtime.model_cache(), lap)
    response = json_response(200, prediction.body())
    lap("encode")
    return response, prediction.model.version, prediction


def unrouted(error: Exception) -> flask.Response:
    """A path the framework's own router refuses before `handle` runs (one with a newline,
    say): the same JSON 404 as any other unknown path, with its X-Request-Id and log line."""
    request = flask.request
    request_id = trace.given_or_new_request_id(request.environ.get("HTTP_X_REQUEST_ID"))
    return _answered(request, error_response(_no_route(request.path)), request_id, None, 0.0)


def _no_route(path: str) -> NotFound:
    return NotFound(f"no route {path!r}: use POST /predict, GET /health or GET /model")


def route_of(request: flask.Request) -> tuple[Route, str]:
    """The route of the request's path, if it allows the method, and the path's parameter."""
    found = match(request.path)
    if found is None:
        raise _no_route(request.path)
    route, parameter = found
    if request.method not in route.allowed():
        allowed = route.allowed()
        raise MethodNotAllowed(
            f"{request.path} accepts {' or '.join(allowed)} only, not {request.method}", allowed
        )
    return route, parameter


def _body(request: flask.Request, parameter: str) -> Callable[[Settings], Instances]:
    return body_of(request).decode


def body_of(request: flask.Request) -> Body:
    environ = request.environ
    return Body(
        read=body_stream(request).read,
        length=request.content_length,
        content_type=environ.get("CONTENT_TYPE"),
        content_encoding=environ.get("HTTP_CONTENT_ENCODING"),
    )


def body_stream(request: flask.Request) -> Any:
    """The body as the server hands it over. A server that ends the body itself (gunicorn
    says so with `wsgi.input_terminated`) gets no wrapper, as werkzeug would give it none;
    it just costs less than `request.stream` to find out."""
    environ = request.environ
    if environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"]
    return request.stream


def _batch_path(request: flask.Request, parameter: str) -> Callable[[Settings], Instances]:
    return lambda config: decode_batch_path(parameter, config.max_instances)


def _stream_path(request: flask.Request, parameter: str) -> Callable[[Settings], Instances]:
    return lambda config: decode_stream_path(parameter)


# Where each predicting route finds its instances: the body, or the legacy URLs.
_DECODERS = {"predict": _body, "batch_path": _batch_path, "stream_path": _stream_path}


def _prediction_request(
    request: flask.Request, route: Route, parameter: str, request_id: str
) -> PredictionRequest:
    version, alias = selector_of(request)
    decode = _DECODERS[route.name](request, parameter)
    return PredictionRequest(request_id, "http", decode, version, alias)


def selector_of(request: flask.Request) -> tuple[str | None, str | None]:
    if not request.query_string:
        return None, None  # most requests: skip parsing the query
    return request.args.get("version"), request.args.get("alias")


def _other(request: flask.Request, route: Route) -> tuple[flask.Response, int | None]:
    """The routes that predict nothing: health, the model served, the OpenAPI document."""
    if route.name == "health":
        return json_response(200, {"status": "ok"}), None
    if route.name == "openapi":
        return json_response(200, openapi.document(runtime.settings())), None
    model = ModelSelector.parse(*selector_of(request)).model(runtime.model_cache())
    return json_response(200, describe(model)), model.version
