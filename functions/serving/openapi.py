"""`GET /openapi.json`: the OpenAPI 3 document of `predict_batch`, built from the code.

Paths and methods come from the route table (`functions.serving.routes`), statuses from the error
classes each route raises, limits from the settings, media types and encodings from
`functions.serving.bodies`, the alias syntax from the registry: what the function validates with is
what the document says.
"""

from __future__ import annotations

import functools
from typing import Any

from functions.platform.config import Settings
from functions.platform.errors import MethodNotAllowed, ModelUnavailable, ServingError
from functions.serving.bodies import CSV, ENCODINGS, JSON
from functions.serving.open_inference_http import OCTET_STREAM
from functions.serving.open_inference_schemas import open_inference_schemas
from functions.serving.routes import ROUTES, Route
from model.artifact import FORMATS
from model.registry import ALIAS_PATTERN, NAME_PATTERN

VERSION = "3.0.3"
# Every error a route can answer with, by code.
ERROR_CLASSES: tuple[type[ServingError], ...] = tuple(
    sorted({error for route in ROUTES for error in route.errors}, key=lambda error: error.code)
)
_WHEN = {
    "INVALID_ARGUMENT": "The request is malformed: the message names the first bad part",
    "NOT_FOUND": "Unknown path, model, model version or alias",
    "METHOD_NOT_ALLOWED": "The path does not take this method (see Allow)",
    "PAYLOAD_TOO_LARGE": "Over the limit of instances or bytes (decompressed bytes for gzip)",
    "UNSUPPORTED_MEDIA_TYPE": "A content type or content encoding the function does not take",
    "UNAVAILABLE": "No model can be loaded yet; try again after Retry-After seconds",
}
_NUMBER = {"type": "number"}
_OK_SCHEMAS = {
    "health": "Health",
    "model": "ModelDescription",
    "models": "ModelList",
    "openapi": "OpenApiDocument",
    "v2_server": "V2ServerMetadata",
    "v2_live": "V2Live",
    "v2_ready": "V2Ready",
    "v2_model": "V2ModelMetadata",
    "v2_model_ready": "V2ModelReady",
    "v2_infer": "V2InferenceResponse",
}
_V2_PATH_PARAMETERS = {
    "model_name": {
        "name": "model_name",
        "in": "path",
        "required": True,
        "description": "The model, by name (GET /models lists them)",
        "schema": {"type": "string", "pattern": NAME_PATTERN},
    },
    "model_version": {
        "name": "model_version",
        "in": "path",
        "required": True,
        "description": "A registered version, a whole number from 1",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
}


@functools.cache
def document(settings: Settings) -> dict[str, Any]:
    """The whole OpenAPI 3 document for the limits in settings (built once per settings)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operations = paths.setdefault(route.path, {})
        operations[route.method.lower()] = _operation(route, settings)
        if "HEAD" in route.allowed():
            operations["head"] = _head(route)
    return {
        "openapi": VERSION,
        "info": {
            "title": "predict_batch",
            "version": "1",
            "description": "HTTP batch predictions; the reference is docs/http.md.",
        },
        "paths": paths,
        "components": {"schemas": _schemas(settings)},
    }


def _operation(route: Route, settings: Settings) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(route, route.method),
        "summary": route.summary,
        "parameters": _parameters(route),
        "responses": {"200": _ok(route), **_errors(route)},
    }
    if route.method == "POST":
        operation["requestBody"] = (
            _infer_body(settings) if route.protocol == "v2" else _request_body(settings)
        )
    return operation


def _head(route: Route) -> dict[str, Any]:
    """HEAD: the GET's status and headers, without the body."""
    statuses = {"200": "As GET, without the body"}
    statuses.update({str(error.code): _WHEN[error.status] for error in route.errors})
    return {
        "operationId": _operation_id(route, "HEAD"),
        "summary": f"{route.summary} (headers only)",
        "parameters": _parameters(route),
        "responses": {code: {"description": text} for code, text in statuses.items()},
    }


def _operation_id(route: Route, method: str) -> str:
    suffix = "" if route.path != "/" else "_root"
    return f"{method.lower()}_{route.name}{suffix}"


def _parameters(route: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if route.pattern is not None:
        parameters += [_V2_PATH_PARAMETERS[name] for name in route.pattern.groupindex]
    if route.prefix is not None:
        name = route.path.removeprefix(route.prefix).strip("{}")
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": "JSON numbers, parsed strictly (never evaluated)",
                "schema": {"type": "string", "minLength": 1},
            }
        )
    if route.selects_model:
        parameters += [
            {
                "name": "model",
                "in": "query",
                "description": "The model, by name (GET /models lists them); else the default",
                "schema": {"type": "string", "pattern": NAME_PATTERN},
            },
            {
                "name": "version",
                "in": "query",
                "description": "Pin a model version, a whole number from 1 (not with alias)",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            },
            {
                "name": "alias",
                "in": "query",
                "description": "Serve with the version under this alias (not with version)",
                "schema": {"type": "string", "pattern": ALIAS_PATTERN},
            },
        ]
    if route.method == "POST" and route.protocol == "v2":
        parameters.append(
            {
                "name": "Inference-Header-Content-Length",
                "in": "header",
                "description": "Binary tensors: the JSON header's length; its tensors follow",
                "schema": {"type": "integer", "minimum": 0},
            }
        )
    if route.method == "POST":
        parameters.append(
            {
                "name": "Content-Encoding",
                "in": "header",
                "description": "gzip: the limits apply to the decompressed body",
                "schema": {"type": "string", "enum": list(ENCODINGS)},
            }
        )
    return parameters


def _request_body(settings: Settings) -> dict[str, Any]:
    return {
        "required": True,
        "description": (
            f"At most {settings.max_instances} instances and {settings.max_body_bytes} bytes"
        ),
        "content": {
            JSON: {"schema": {"$ref": "#/components/schemas/PredictRequest"}},
            CSV: {
                "schema": {
                    "type": "string",
                    "description": "One instance a row, optional header of feature names",
                }
            },
        },
    }


def _ok(route: Route) -> dict[str, Any]:
    schema = _OK_SCHEMAS.get(route.name.removesuffix("_version"), "Prediction")
    content: dict[str, Any] = {JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    if route.name.startswith("v2_infer"):
        content[OCTET_STREAM] = {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "Binary output asked for: the JSON header, then the tensor",
            }
        }
    return {"description": "OK", "headers": _request_id_header(), "content": content}


def _errors(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    schema = "V2Error" if route.protocol == "v2" else "Error"
    for error in route.errors:
        headers = _request_id_header()
        if error is MethodNotAllowed:
            headers["Allow"] = {"schema": {"type": "string"}, "description": "Methods it takes"}
        if error is ModelUnavailable:
            headers["Retry-After"] = {"schema": {"type": "integer"}, "description": "Seconds"}
        responses[str(error.code)] = {
            "description": _WHEN[error.status],
            "headers": headers,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    return responses


def _infer_body(settings: Settings) -> dict[str, Any]:
    return {
        "required": True,
        "description": (
            f"One input tensor [n, features], n at most {settings.max_instances}, within "
            f"{settings.max_body_bytes} bytes; no Content-Type is JSON"
        ),
        "content": {
            JSON: {"schema": {"$ref": "#/components/schemas/V2InferenceRequest"}},
            OCTET_STREAM: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "The JSON header, then the tensors' raw little-endian bytes",
                }
            },
        },
    }


def _request_id_header() -> dict[str, Any]:
    return {
        "X-Request-Id": {
            "schema": {"type": "string"},
            "description": (
                "The request's X-Request-Id if a plain token of at most 128 characters, "
                "else a new id; in the function's logs"
            ),
        }
    }


def _schemas(settings: Settings) -> dict[str, Any]:
    instance = {
        "oneOf": [
            _NUMBER,
            {"type": "array", "items": _NUMBER, "minItems": 1},
            {"type": "object", "additionalProperties": _NUMBER, "minProperties": 1},
        ],
        "description": "Feature values in the model's order, or keyed by feature name",
    }
    return {
        "PredictRequest": {
            "type": "object",
            "required": ["instances"],
            "additionalProperties": False,
            "properties": {
                "instances": {
                    "type": "array",
                    "items": instance,
                    "minItems": 1,
                    "maxItems": settings.max_instances,
                }
            },
        },
        "Prediction": {
            "type": "object",
            "required": ["predictions", "model"],
            "additionalProperties": False,
            "properties": {
                "predictions": {"type": "array", "items": _NUMBER},
                "model": {"$ref": "#/components/schemas/ModelReference"},
            },
        },
        "ModelReference": {
            "type": "object",
            "required": ["name", "version"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "integer", "minimum": 1},
            },
        },
        "ModelDescription": {
            "type": "object",
            "required": ["name", "version", "features", "family", "params", "format", "metrics"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "integer", "minimum": 1},
                "features": {"type": "array", "items": {"type": "string"}},
                "family": {"type": "string", "description": "linear, ridge, … (docs/models.md)"},
                "params": {
                    "type": "object",
                    "description": "The family's scikit-learn parameters set at training",
                },
                "format": {"type": "string", "enum": list(FORMATS)},
                "metrics": {"type": "object", "additionalProperties": _NUMBER},
                "created_at": {"type": "string", "nullable": True},
                "data_sha256": {"type": "string", "nullable": True},
                "code_version": {"type": "string", "nullable": True},
            },
        },
        "ModelList": {
            "type": "object",
            "required": ["default", "models"],
            "additionalProperties": False,
            "properties": {
                "default": {"type": "string", "description": "The model served without ?model="},
                "models": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "version"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "version": {
                                "type": "integer",
                                "minimum": 1,
                                "nullable": True,
                                "description": "Its served alias's version; null: none yet",
                            },
                        },
                    },
                },
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "additionalProperties": False,
            "properties": {"status": {"type": "string", "enum": ["ok"]}},
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "status", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {"type": "integer", "enum": [e.code for e in ERROR_CLASSES]},
                        "status": {"type": "string", "enum": [e.status for e in ERROR_CLASSES]},
                        "message": {"type": "string"},
                    },
                }
            },
        },
        **open_inference_schemas(settings),
        "OpenApiDocument": {
            "type": "object",
            "required": ["openapi", "info", "paths"],
            "properties": {"openapi": {"type": "string", "enum": [VERSION]}},
        },
    }
