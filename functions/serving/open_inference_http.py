"""The Open Inference Protocol's REST routes on `predict_batch` (docs/open-inference.md).

Server and model metadata, health, readiness and inference, as KServe, Triton and MLServer
answer them, so their clients and load tests work here. An inference goes through the same
core as `POST /predict` (`functions.serving.core`): the same limits, model selection, checks
and prediction log; only the body's shape differs (`functions.serving.open_inference`), and
errors are the protocol's `{"error": "message"}` with the same status codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from functions.platform import runtime
from functions.platform.config import Settings
from functions.platform.errors import InvalidArgument, ServingError, UnsupportedMediaType
from functions.platform.incoming import content_length
from functions.platform.responses import JsonResponse, json_response
from functions.serving.bodies import JSON, Body, media_type_of, too_large
from functions.serving.core import Lap, ModelSelector, Prediction, PredictionRequest, predict
from functions.serving.open_inference import (
    BINARY_CONTENT_TYPE,
    InferenceRequest,
    decode_infer,
    encode_infer,
    model_metadata,
    parse_header_length,
)

OCTET_STREAM = BINARY_CONTENT_TYPE
HEADER_LENGTH = "inference-header-content-length"  # Triton's binary tensor data extension
SERVER = {"name": "predict_batch", "version": "1", "extensions": ["binary_tensor_data"]}
Answer = tuple[Response, int | None, Prediction | None]


def error_body(error: ServingError) -> dict[str, Any]:
    """The protocol's error: a message; the status code says whose fault it is."""
    return {"error": error.message}


def answer(
    route: str,
    parameters: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    request_id: str,
    lap: Lap,
) -> Answer:
    """The answer of a protocol route (its name in `functions.serving.routes`); raises
    ServingError like every route."""
    if route == "v2_server":
        return json_response(200, SERVER), None, None
    if route == "v2_live":
        return json_response(200, {"live": True}), None, None
    if route == "v2_ready":
        runtime.models.get()  # the default model serves, or a 503 says why not
        return json_response(200, {"ready": True}), None, None
    if route.startswith("v2_infer"):
        return _infer(parameters, headers, body, request_id, lap)
    selector = ModelSelector.parse(parameters.get("model_version"), None, parameters["model_name"])
    model = selector.model(runtime.models)
    if route.startswith("v2_model_ready"):
        return json_response(200, {"name": model.name, "ready": True}), model.version, None
    return json_response(200, model_metadata(model)), model.version, None


def _infer(
    parameters: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    request_id: str,
    lap: Lap,
) -> Answer:
    config = runtime.settings()
    decoded = _decode(headers, body, config)  # the limits and the syntax, before any model
    request = PredictionRequest(
        request_id,
        "http",
        lambda _: decoded,
        version=parameters.get("model_version"),
        model_name=parameters["model_name"],
    )
    prediction = predict(request, config, runtime.models, lap)
    model, predictions = prediction.model, prediction.predictions
    payload, header_length = encode_infer(decoded, model.name, model.version, predictions)
    lap("encode")
    return _infer_response(payload, header_length), model.version, prediction


def _decode(headers: Mapping[str, str], body: bytes, config: Settings) -> InferenceRequest:
    """The request, within the limits of every body; no Content-Type is JSON (tritonclient
    sends none)."""
    content_type = headers.get("content-type")
    if media_type_of(content_type) not in ("", JSON, OCTET_STREAM):
        raise UnsupportedMediaType(
            f"content type {content_type} is not supported: send {JSON}, or none, with binary "
            f"tensors after the JSON header as Inference-Header-Content-Length says"
        )
    declared = content_length(headers)
    if declared is not None and declared > config.max_body_bytes:  # left unread: a 413
        raise too_large(config.max_body_bytes)
    if not body:
        raise InvalidArgument('the body is empty: send an inference request, {"inputs": [...]}')
    data = body
    if "content-encoding" in headers or len(body) > config.max_body_bytes:  # else: as it came
        _, data = Body(
            body,
            length=content_length(headers),
            content_type=JSON,
            content_encoding=headers.get("content-encoding"),
        ).read_all(config)
    header_length = parse_header_length(headers.get(HEADER_LENGTH))
    return decode_infer(data, header_length, config.max_instances)


def _infer_response(payload: bytes, header_length: int | None) -> Response:
    response = JsonResponse(payload, 200)
    if header_length is not None:  # the JSON header, then the output's raw bytes
        response.raw_headers = [
            (b"content-length", str(len(payload)).encode()),
            (b"content-type", OCTET_STREAM.encode()),
            (HEADER_LENGTH.encode(), str(header_length).encode()),
        ]
    return response
