"""The routes of `predict_batch`: what it answers, how, and with which errors.

One table serves the router (`match`) and the OpenAPI document (`functions.serving.openapi`), so
the document cannot describe a route the function does not have, or miss one it has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Literal

from functions.platform.errors import (
    InvalidArgument,
    MethodNotAllowed,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
    ServingError,
    UnsupportedMediaType,
)

BATCH_PREFIX = "/batch/"
STREAM_PREFIX = "/stream/"
V2_MODEL = "/v2/models/{model_name}"
V2_VERSION = V2_MODEL + "/versions/{model_version}"
_SELECTING = (InvalidArgument, NotFound, MethodNotAllowed, ModelUnavailable)
_NO_PARAMETERS: Mapping[str, str] = MappingProxyType({})
Protocol = Literal["own", "v2"]


@dataclass(frozen=True)
class Route:
    """A path (an OpenAPI template), its one method and what it answers."""

    name: str  # predict, batch_path, ..., models, openapi, v2_server, ..., v2_infer_version
    path: str
    method: str  # GET routes answer HEAD too
    summary: str
    errors: tuple[type[ServingError], ...] = (MethodNotAllowed,)
    selects_model: bool = False  # takes ?model=, ?version= and ?alias=
    prefix: str | None = None  # matches every path under it: the legacy URLs
    # "v2": the Open Inference Protocol's (docs/open-inference.md): its errors are
    # {"error": "message"}, its model and version are in the path.
    protocol: Protocol = "own"

    def allowed(self) -> tuple[str, ...]:
        return (self.method, "HEAD") if self.method == "GET" else (self.method,)

    @property
    def takes_body(self) -> bool:
        return self.method == "POST"

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        """A templated path's expression, each {name} one path segment; None: a fixed path."""
        if "{" not in self.path or self.prefix is not None:
            return None
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


def _v2_model_routes(
    name: str, tail: str, method: str, summary: str, errors: tuple[type[ServingError], ...]
) -> tuple[Route, Route]:
    """A route of a model, then of one of its versions, as the protocol has both."""
    return (
        Route(name, V2_MODEL + tail, method, summary, errors, protocol="v2"),
        Route(
            name + "_version",
            V2_VERSION + tail,
            method,
            summary + ", a version pinned",
            errors,
            protocol="v2",
        ),
    )


ROUTES = (
    *(
        Route(
            "predict",
            path,
            "POST",
            "Predict a batch of instances sent as JSON or CSV, optionally gzipped",
            (*_SELECTING, PayloadTooLarge, UnsupportedMediaType),
            selects_model=True,
        )
        for path in ("/predict", "/")
    ),
    Route(
        "batch_path",
        BATCH_PREFIX + "{instances}",
        "GET",
        "Predict the instances of a JSON array in the path, like /batch/[0.5,0.2,0.6]",
        (*_SELECTING, PayloadTooLarge),
        selects_model=True,
        prefix=BATCH_PREFIX,
    ),
    Route(
        "stream_path",
        STREAM_PREFIX + "{instance}",
        "GET",
        "Predict one instance, a JSON number or array in the path, like /stream/0.5",
        _SELECTING,
        selects_model=True,
        prefix=STREAM_PREFIX,
    ),
    Route("health", "/health", "GET", "Whether the function is up (it loads no model)"),
    Route(
        "model",
        "/model",
        "GET",
        "The model version that serves: name, version, features, family, metrics, lineage",
        _SELECTING,
        selects_model=True,
    ),
    Route(
        "models",
        "/models",
        "GET",
        "The models served, each with the version its served alias names",
        (MethodNotAllowed, ModelUnavailable),
    ),
    Route(
        "feedback",
        "/feedback",
        "POST",
        "Report the true outcome of past predictions, by request id and instance index",
        (MethodNotAllowed, InvalidArgument, PayloadTooLarge, UnsupportedMediaType),
    ),
    Route("openapi", "/openapi.json", "GET", "This document, OpenAPI 3"),
    Route(
        "v2_server",
        "/v2",
        "GET",
        "Open Inference Protocol: server metadata",
        protocol="v2",
    ),
    Route("v2_live", "/v2/health/live", "GET", "Open Inference Protocol: live", protocol="v2"),
    Route(
        "v2_ready",
        "/v2/health/ready",
        "GET",
        "Open Inference Protocol: ready, once the default model can serve",
        (MethodNotAllowed, ModelUnavailable),
        protocol="v2",
    ),
    *_v2_model_routes("v2_model", "", "GET", "Open Inference Protocol: model metadata", _SELECTING),
    *_v2_model_routes(
        "v2_model_ready", "/ready", "GET", "Open Inference Protocol: model ready", _SELECTING
    ),
    *_v2_model_routes(
        "v2_infer",
        "/infer",
        "POST",
        "Open Inference Protocol: inference, JSON or with binary tensors",
        (*_SELECTING, PayloadTooLarge, UnsupportedMediaType),
    ),
)
_EXACT = {route.path: route for route in ROUTES if route.pattern is None and route.prefix is None}
_PREFIXED = tuple(route for route in ROUTES if route.prefix is not None)
# The protocol's model routes by what follows /v2/models/{model_name}: a lookup, not a scan.
_V2_MODEL_PREFIX = V2_MODEL.partition("{")[0]
_V2_TAILS = {
    tuple(route.path.removeprefix(V2_MODEL).split("/")[1:]): route
    for route in ROUTES
    if route.path.startswith(V2_MODEL)
}


def match(path: str) -> tuple[Route, Mapping[str, str]] | None:
    """The route of a request path and the path's parameters by name; None: a 404."""
    path = path.rstrip("/") or "/"
    exact = _EXACT.get(path)
    if exact is not None:
        return exact, _NO_PARAMETERS
    for route in _PREFIXED:
        if path.startswith(route.prefix):  # type: ignore[arg-type]
            return route, {"path": path.removeprefix(route.prefix)}  # type: ignore[arg-type]
    if path.startswith(_V2_MODEL_PREFIX):
        return _v2_model_route(path.removeprefix(_V2_MODEL_PREFIX).split("/"))
    return None


def _v2_model_route(segments: list[str]) -> tuple[Route, Mapping[str, str]] | None:
    """[name, *tail]: the tail as the templates spell it, the version in its place."""
    name, *tail = segments
    version = None
    if len(tail) >= 2 and tail[0] == "versions":
        version, tail[1] = tail[1], "{model_version}"
    route = _V2_TAILS.get(tuple(tail))
    if route is None or not name or version == "":
        return None
    return route, {"model_name": name} if version is None else {
        "model_name": name,
        "model_version": version,
    }
