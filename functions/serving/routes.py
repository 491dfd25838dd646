"""The routes of `predict_batch`: what it answers, how, and with which errors.

One table serves the router (`match`) and the OpenAPI document (`functions.serving.openapi`), so
the document cannot describe a route the function does not have, or miss one it has.
"""

from __future__ import annotations

from dataclasses import dataclass

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
_SELECTING = (InvalidArgument, NotFound, MethodNotAllowed, ModelUnavailable)


@dataclass(frozen=True)
class Route:
    """A path (an OpenAPI template), its one method and what it answers."""

    name: str  # predict, batch_path, stream_path, health, model, models, openapi
    path: str
    method: str  # GET routes answer HEAD too
    summary: str
    errors: tuple[type[ServingError], ...] = (MethodNotAllowed,)
    selects_model: bool = False  # takes ?model=, ?version= and ?alias=
    prefix: str | None = None  # matches every path under it: the legacy URLs

    def allowed(self) -> tuple[str, ...]:
        return (self.method, "HEAD") if self.method == "GET" else (self.method,)


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
    Route("openapi", "/openapi.json", "GET", "This document, OpenAPI 3"),
)
_EXACT = {route.path: route for route in ROUTES if route.prefix is None}


def match(path: str) -> tuple[Route, str] | None:
    """The route of a request path and the path's parameter ("" for none); None: a 404."""
    path = path.rstrip("/") or "/"
    exact = _EXACT.get(path)
    if exact is not None:
        return exact, ""
    for route in ROUTES:
        if route.prefix is not None and path.startswith(route.prefix):
            return route, path.removeprefix(route.prefix)
    return None
