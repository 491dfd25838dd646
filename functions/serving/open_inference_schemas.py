"""The Open Inference Protocol's shapes as OpenAPI schemas, for `GET /openapi.json`.

What `functions.serving.open_inference` decodes and encodes, written down: schemathesis sends
requests generated from these to every route (tests/integration/test_openapi.py).
"""

from __future__ import annotations

from typing import Any

from functions.platform.config import Settings
from functions.serving.open_inference import DATATYPES, OUTPUT_NAME

_STRING = {"type": "string"}
_PARAMETERS = {"type": "object", "description": "Accepted; binary_data_output is read"}


def open_inference_schemas(settings: Settings) -> dict[str, Any]:
    tensor_metadata = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": _STRING,
            "datatype": _STRING,
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }
    return {
        "V2Error": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {"error": _STRING},
        },
        "V2ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": _STRING,
                "version": _STRING,
                "extensions": {"type": "array", "items": _STRING},
            },
        },
        "V2Live": _flag("live"),
        "V2Ready": _flag("ready"),
        "V2ModelReady": {**_flag("ready"), "required": ["name", "ready"]},
        "V2ModelMetadata": {
            "type": "object",
            "required": ["name", "versions", "platform", "inputs", "outputs"],
            "properties": {
                "name": _STRING,
                "versions": {"type": "array", "items": _STRING},
                "platform": _STRING,
                "inputs": {"type": "array", "items": tensor_metadata},
                "outputs": {"type": "array", "items": tensor_metadata},
            },
        },
        "V2InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "additionalProperties": False,
            "properties": {
                "id": _STRING,
                "parameters": _PARAMETERS,
                "inputs": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "datatype", "shape"],
                        "properties": {
                            "name": _STRING,
                            "datatype": {"type": "string", "enum": list(DATATYPES)},
                            "shape": {
                                "type": "array",
                                "items": {"type": "integer", "minimum": 0},
                                "minItems": 2,
                                "maxItems": 2,
                                "description": f"[n, features], n at most {settings.max_instances}",
                            },
                            "data": {"type": "array", "description": "Flat or nested numbers"},
                            "parameters": _PARAMETERS,
                        },
                    },
                },
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "enum": [OUTPUT_NAME]},
                            "parameters": _PARAMETERS,
                        },
                    },
                },
            },
        },
        "V2InferenceResponse": {
            "type": "object",
            "required": ["model_name", "model_version", "outputs"],
            "properties": {
                "model_name": _STRING,
                "model_version": _STRING,
                "id": _STRING,
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "datatype", "shape"],
                        "properties": {
                            "name": {"type": "string", "enum": [OUTPUT_NAME]},
                            "datatype": {"type": "string", "enum": ["FP64"]},
                            "shape": {"type": "array", "items": {"type": "integer"}},
                            "data": {"type": "array", "items": {"type": "number"}},
                            "parameters": _PARAMETERS,
                        },
                    },
                },
            },
        },
    }


def _flag(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [name],
        "properties": {name: {"type": "boolean", "enum": [True]}, "name": _STRING},
    }
