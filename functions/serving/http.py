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

import io
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from functions.platform import logs, runtime, trace
from functions.platform.config import Settings
from functions.platform.errors import MethodNotAllowed, NotFound, ServingError
from functions.platform.responses import error_response, json_response
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
from functions.serving.routes import Route, match

COMPONENT = "predict_batch"


@dataclass(frozen=True)
class Exchange:
    """A request as the handler reads it: its line, its headers and its body, read."""

    method: str
    path: str
    query: str  # the raw query string, "" for none
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


async def handle(request: Request, lap: Lap = no_lap) -> Response:
    """The answer to a request; `lap` is told each stage as it ends (bench/stages.py)."""
    started = time.perf_counter()
    scope = request.scope
    headers = headers_of(scope)
    request_id = trace.given_or_new_request_id(headers.get("x-request-id"))
    lap("request_id")
    method, path = scope["method"], scope["path"]
    config = runtime.settings()
    body = await read_body(request, headers, config) if _takes_body(method, path) else b""
    exchange = Exchange(method, path, scope["query_string"].decode("latin-1"), headers, body)
    # Below the threshold the hop to a thread would cost more than the work it frees the
    # loop from (OFFLOAD_BYTES, measured: docs/performance.md).
    if len(body) + len(path) > config.offload_bytes:
        response, model_version, prediction = await run_in_threadpool(
            _answer, exchange, request_id, lap
        )
    else:
        response, model_version, prediction = _answer(exchange, request_id, lap)
    latency_ms = (time.perf_counter() - started) * 1000
    if prediction is not None:
        runtime.prediction_log().record(prediction, latency_ms)
        lap("prediction_log_handoff")
    answered = _answered(exchange, response, request_id, model_version, latency_ms)
    lap("request_log_line")
    return answered


def _takes_body(method: str, path: str) -> bool:
    found = match(path)
    return method == "POST" and found is not None and found[0].name == "predict"


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name, read once: every later lookup is a dict's.
    ASGI servers give names in lower case; a repeated header keeps its last value."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def read_body(request: Request, headers: Mapping[str, str], config: Settings) -> bytes:
    """The body, never more than one byte over the limit: the rest is not read at all. A body
    that says it is too long is not read either; `Body` then refuses it by its length."""
    limit = config.max_body_bytes
    length = content_length(headers)
    if length is not None and length > limit:
        return b""
    chunks, size, more = [], 0, True
    while more and size <= limit:
        message = await request.receive()
        if message["type"] != "http.request":
            break  # the client has gone
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _answer(
    exchange: Exchange, request_id: str, lap: Lap
) -> tuple[Response, int | None, Prediction | None]:
    """The answer, the model version that made it and its prediction, if any: never raises."""
    try:
        return _routed(exchange, request_id, lap)
    except ServingError as error:
        return error_response(error), None, None
    except Exception as error:  # a bug: log it, answer without leaking a stack trace
        logs.exception(
            f"unhandled {type(error).__name__}: {error}",
            component=COMPONENT,
            request_id=request_id,
            **trace.fields(exchange.headers, runtime.settings().project_id),
        )
        return error_response(ServingError("internal error")), None, None


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
    route, parameter = route_of(exchange.method, exchange.path)
    if route.name not in _DECODERS:
        response, model_version = _other(exchange, route)
        return response, model_version, None
    predicting = _prediction_request(exchange, route, parameter, request_id)
    lap("routing")
    prediction = predict(predicting, runtime.settings(), runtime.models, lap)
    response = json_response(200, prediction.body())
    lap("encode")
    return response, prediction.model.version, prediction


def _no_route(path: str) -> NotFound:
    return NotFound(f"no route {path!r}: use POST /predict, GET /health or GET /model")


def route_of(method: str, path: str) -> tuple[Route, str]:
    """The route of the path, if it allows the method, and the path's parameter."""
    found = match(path)
    if found is None:
        raise _no_route(path)
    route, parameter = found
    if method not in route.allowed():
        allowed = route.allowed()
        raise MethodNotAllowed(f"{path} accepts {' or '.join(allowed)} only, not {method}", allowed)
    return route, parameter


def _body(exchange: Exchange, parameter: str) -> Callable[[Settings], Instances]:
    headers = exchange.headers
    return Body(
        read=io.BytesIO(exchange.body).read,
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
    version, alias = selector_of(exchange.query)
    decode = _DECODERS[route.name](exchange, parameter)
    return PredictionRequest(request_id, "http", decode, version, alias)


def selector_of(query: str) -> tuple[str | None, str | None]:
    if not query:
        return None, None  # most requests: skip parsing the query
    parameters = parse_qs(query)
    return parameters.get("version"), parameters.get("alias")


def parse_qs(query: str) -> dict[str, str]:
    """The first value of each query parameter, as werkzeug's `args.get` gives it."""
    found: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        found.setdefault(name, value)
    return found


def _other(exchange: Exchange, route: Route) -> tuple[Response, int | None]:
    """The routes that predict nothing: health, the model served, the OpenAPI document."""
    if route.name == "health":
        return json_response(200, {"status": "ok"}), None
    if route.name == "openapi":
        return json_response(200, openapi.document(runtime.settings())), None
    model = ModelSelector.parse(*selector_of(exchange.query)).model(runtime.model_cache())
    return json_response(200, describe(model)), model.version
