"""`predict_batch`: the HTTP function (docs/http.md), on functions-framework's ASGI server.

HTTP receives a request here and replies here; what lies between is the shared core
(`functions.serving.core`). Every ServingError becomes a JSON answer in
`functions.platform.responses.error_response`, the one place where errors meet HTTP.

The handler runs on the server's event loop. Reading the body awaits the socket; the rest
(decode, predict, encode) is CPU work, done on the loop for a small request and on a worker
thread for a large one, so a 100,000-row batch does not hold up the small requests served
beside it (docs/performance.md).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from functions.platform import logs, runtime, trace
from functions.platform.config import Settings
from functions.platform.errors import (
    MethodNotAllowed,
    ModelUnavailable,
    NotFound,
    ServingError,
    is_backend_failure,
)
from functions.platform.incoming import body_within, content_length, headers_of
from functions.platform.responses import error_response, json_response
from functions.serving import feedback_http, open_inference_http, openapi
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
from functions.serving.routes import Route, match

COMPONENT = "predict_batch"


@dataclass(slots=True)  # made per request: a frozen one's __init__ costs 4x
class Exchange:
    """A request as the handler reads it: its line, its headers and its body, read."""

    method: str
    path: str
    query: str  # the raw query string, "" for none
    headers: Mapping[str, str]  # by lower-case name
    body: bytes
    route: tuple[Route, Mapping[str, str]] | None  # the route and its path's parameters


async def handle(request: Request, lap: Lap = no_lap) -> Response:
    """The answer to a request; `lap` is told each stage as it ends (bench/stages.py)."""
    started = time.perf_counter()
    scope = request.scope
    headers = headers_of(scope)
    request_id = trace.given_or_new_request_id(headers.get("x-request-id"))
    lap("request_id")
    method, path = scope["method"], scope["path"]
    config = runtime.settings()
    route = match(path)
    takes_body = method == "POST" and route is not None and route[0].takes_body
    body = await read_body(request, headers, config) if takes_body else b""
    query = scope["query_string"].decode("latin-1")
    exchange = Exchange(method, path, query, headers, body, route)
    # Below the threshold the hop to a thread would cost more than the work it frees the
    # loop from (OFFLOAD_BYTES, measured: docs/performance.md). Storage calls go there too.
    try:
        offload = len(body) + len(path) > config.offload_bytes or _reads_storage(exchange)
    except Exception:  # no storage client could be made: _answer meets it again, as JSON
        offload = True
    if offload:
        response, model_version, prediction = await run_in_threadpool(
            _answer, exchange, request_id, lap
        )
    else:
        response, model_version, prediction = _answer(exchange, request_id, lap)
    latency_ms = (time.perf_counter() - started) * 1000
    if prediction is not None:
        log = runtime.prediction_log()
        # One record holds PREDICTION_LOG_MAX_INSTANCES rows at most: encoding it costs less
        # than a hop to a thread. A model taking feedback logs every instance of a large
        # request, in many records: that is CPU work, kept off the loop like the request's.
        if offload and log.records(prediction) > 1:
            await run_in_threadpool(log.record, prediction, latency_ms)
        else:
            log.record(prediction, latency_ms)
        lap("prediction_log_handoff")
    answered = _answered(exchange, response, request_id, model_version, latency_ms)
    lap("request_log_line")
    return answered


async def read_body(request: Request, headers: Mapping[str, str], config: Settings) -> bytes:
    """The body within MAX_BODY_BYTES (one byte past it at most). A body that says it is too
    long is not read at all; `Body` then refuses it by its length."""
    length = content_length(headers)
    if length is not None and length > config.max_body_bytes:
        return b""
    return await body_within(request, config.max_body_bytes)


def _reads_storage(exchange: Exchange) -> bool:
    """Whether the answer waits on a backend: lists the registry, loads a model not on the
    shelf yet, or publishes feedback."""
    if exchange.route is None:
        return False
    route, parameters = exchange.route
    if route.name in ("models", "feedback"):  # feedback waits for Pub/Sub's confirmation
        return True
    if route.protocol == "v2" and route.name not in ("v2_server", "v2_live"):
        name = parameters.get("model_name")  # None: /v2/health/ready, the default model
    elif route.selects_model:
        name = parse_qs(exchange.query).get("model") if exchange.query else None
    else:
        return False
    return not runtime.model_shelf().holds(name)


def _answer(
    exchange: Exchange, request_id: str, lap: Lap
) -> tuple[Response, int | None, Prediction | None]:
    """The answer, the model version that made it and its prediction, if any: never raises."""
    try:
        return _routed(exchange, request_id, lap)
    except ServingError as error:
        return _error_response(exchange, error), None, None
    except Exception as error:  # a bug: log it, answer without leaking a stack trace
        logs.exception(
            f"unhandled {type(error).__name__}: {error}",
            component=COMPONENT,
            request_id=request_id,
            **trace.fields(exchange.headers, runtime.settings().project_id),
        )
        return _error_response(exchange, ServingError("internal error")), None, None


def _answered(
    exchange: Exchange,
    response: Response,
    request_id: str,
    model_version: int | None,
    latency_ms: float,
) -> Response:
    """The response with its X-Request-Id, once the request's log line is written."""
    response.raw_headers.append((b"x-request-id", request_id.encode()))
    logs.request(
        f"{exchange.method} {exchange.path} {response.status_code}",
        component=COMPONENT,
        request_id=request_id,
        model_version=model_version,
        latency_ms=latency_ms,
        severity="INFO" if response.status_code < 500 else "ERROR",
        status=response.status_code,
        **trace.fields(exchange.headers, runtime.settings().project_id),
    )
    return response


def _routed(
    exchange: Exchange, request_id: str, lap: Lap
) -> tuple[Response, int | None, Prediction | None]:
    route, parameters = route_of(exchange)
    if route.protocol == "v2":
        return open_inference_http.answer(
            route.name, parameters, exchange.headers, exchange.body, request_id, lap
        )
    if route.name not in _DECODERS:
        response, model_version = _other(exchange, route)
        return response, model_version, None
    predicting = _prediction_request(exchange, route, parameters.get("path", ""), request_id)
    lap("routing")
    prediction = predict(predicting, runtime.settings(), runtime.models, lap)
    response = json_response(200, prediction.body())
    lap("encode")
    return response, prediction.model.version, prediction


def _error_response(exchange: Exchange, error: ServingError) -> Response:
    """The error in the shape of the route's protocol: ours, or the Open Inference one."""
    if exchange.route is not None and exchange.route[0].protocol == "v2":
        return error_response(error, shape=open_inference_http.error_body)
    return error_response(error)


def _no_route(path: str) -> NotFound:
    return NotFound(f"no route {path!r}: use POST /predict, GET /health, /model or /models")


def served_models() -> dict[str, Any]:
    """`GET /models`: each model served and the version of its served alias (null: none)."""
    shelf, config = runtime.model_shelf(), runtime.settings()
    registry = runtime.registry()
    try:
        models = [
            {"name": name, "version": alias.version if alias else None}
            for name in shelf.served()
            for alias in (registry.alias(name, config.serving_alias),)
        ]
    except Exception as error:
        if is_backend_failure(error):
            raise ModelUnavailable(f"model storage unavailable: {error}") from None
        raise
    return {"default": shelf.default_model, "models": models}


def route_of(exchange: Exchange) -> tuple[Route, Mapping[str, str]]:
    """The route of the path, if it allows the method, and the path's parameters."""
    method, path = exchange.method, exchange.path
    if exchange.route is None:
        raise _no_route(path)
    route, parameters = exchange.route
    if method not in route.allowed():
        allowed = route.allowed()
        raise MethodNotAllowed(f"{path} accepts {' or '.join(allowed)} only, not {method}", allowed)
    return route, parameters


def _body(exchange: Exchange, parameter: str) -> Callable[[Settings], Instances]:
    headers = exchange.headers
    return Body(
        exchange.body,
        length=content_length(headers),
        content_type=headers.get("content-type"),
        content_encoding=headers.get("content-encoding"),
    ).decode


def _batch_path(exchange: Exchange, parameter: str) -> Callable[[Settings], Instances]:
    return lambda config: decode_batch_path(parameter, config.max_instances)


def _stream_path(exchange: Exchange, parameter: str) -> Callable[[Settings], Instances]:
    return lambda config: decode_stream_path(parameter)


# Where each predicting route finds its instances: the body, or the legacy URLs.
_DECODERS = {"predict": _body, "batch_path": _batch_path, "stream_path": _stream_path}


def _prediction_request(
    exchange: Exchange, route: Route, parameter: str, request_id: str
) -> PredictionRequest:
    version, alias, model_name = selector_of(exchange.query)
    decode = _DECODERS[route.name](exchange, parameter)
    return PredictionRequest(request_id, "http", decode, version, alias, model_name)


def selector_of(query: str) -> tuple[str | None, str | None, str | None]:
    """The query's version, alias and model."""
    if not query:
        return None, None, None  # most requests: skip parsing the query
    parameters = parse_qs(query)
    return parameters.get("version"), parameters.get("alias"), parameters.get("model")


def parse_qs(query: str) -> dict[str, str]:
    """The first value of each query parameter, as werkzeug's `args.get` gives it."""
    found: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        found.setdefault(name, value)
    return found


def _other(exchange: Exchange, route: Route) -> tuple[Response, int | None]:
    """The routes that predict nothing: health, the models served, the OpenAPI document."""
    if route.name == "health":
        return json_response(200, {"status": "ok"}), None
    if route.name == "openapi":
        return json_response(200, openapi.document(runtime.settings())), None
    if route.name == "models":
        return json_response(200, served_models()), None
    if route.name == "feedback":
        return feedback_http.accept(exchange.headers, exchange.body), None
    model = ModelSelector.parse(*selector_of(exchange.query)).model(runtime.models)
    return json_response(200, describe(model)), model.version
