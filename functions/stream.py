"""`predict_stream`: Pub/Sub requests in, one result per request out (CONTRACT section 6).

An invalid request gets an error result and is acknowledged. A transient failure (model
storage or the results topic unavailable) raises, so the invocation fails and Pub/Sub
redelivers; after 5 attempts the subscription's dead-letter policy takes the message.
The invocation returns only once its result is confirmed published.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any

import orjson
from cloudevents.http import CloudEvent

from functions import logs, runtime, trace
from functions.errors import InvalidArgument, ServingError, is_transient
from functions.parsing import Instances, decode_csv, decode_json
from functions.prediction import ModelSelector, Prediction, model_reference, predict

COMPONENT = "predict_stream"
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True)
class StreamRequest:
    """A prediction request as carried by one Pub/Sub message."""

    request_id: str
    data: bytes
    attributes: dict[str, str]

    @classmethod
    def from_event(cls, event: CloudEvent) -> StreamRequest:
        """Read the Pub/Sub message out of a push (converted) or Eventarc CloudEvent."""
        payload = _mapping(event.data)
        message = _mapping(payload.get("message"))
        attributes = {str(k): str(v) for k, v in _mapping(message.get("attributes")).items()}
        message_id = message.get("messageId") or message.get("message_id") or event["id"]
        request_id = attributes.get("request_id") or str(message_id)
        encoded = message.get("data") or ""
        try:
            data = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError):
            data = b"\x00not-base64"  # reported as malformed below, never dropped
        return cls(request_id=request_id, data=data, attributes=attributes)

    def selector(self) -> ModelSelector:
        return ModelSelector.parse(self.attributes.get("version"), self.attributes.get("alias"))

    def instances(self) -> Instances:
        config = runtime.settings()
        if not self.data:
            raise InvalidArgument('the message has no data: send {"instances": [...]}')
        if len(self.data) > config.max_body_bytes:
            raise InvalidArgument(f"the message data is over {config.max_body_bytes} bytes")
        if self.attributes.get("content_type", "application/json") == "text/csv":
            return decode_csv(self.data, config.max_instances)
        return decode_json(self.data, config.max_instances)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def handle(event: CloudEvent) -> None:
    started = time.perf_counter()
    request = StreamRequest.from_event(event)
    prediction: Prediction | None
    try:
        prediction = predict(request.instances(), request.selector(), runtime.model_cache())
        result: dict[str, Any] = {
            "request_id": request.request_id,
            "status": "ok",
            "predictions": prediction.predictions,
            "model": model_reference(prediction.model),
        }
        model_version: int | None = prediction.model.version
    except Exception as error:
        if not isinstance(error, ServingError) and not is_transient(error):
            logs.exception(  # a bug: its traceback, then the retry like any failure
                f"unhandled {type(error).__name__}: {error}",
                component=COMPONENT,
                request_id=request.request_id,
                **trace.current_request_fields(runtime.settings().project_id),
            )
        if is_transient(error) or not isinstance(error, ServingError):
            _log(request, started, None, "ERROR", f"will be redelivered: {error}")
            raise  # fail the invocation: Pub/Sub redelivers, then dead-letters
        result = {"request_id": request.request_id, "status": "error", "error": error.to_dict()}
        model_version = None
        prediction = None
    _publish(request.request_id, result, model_version)
    latency_ms = _log(
        request, started, model_version, "INFO", f"published {result['status']} result"
    )
    if prediction is not None:  # only once its result is out: a failed request is not logged
        runtime.prediction_log().record("stream", request.request_id, prediction, latency_ms)


def _publish(request_id: str, result: dict[str, Any], model_version: int | None) -> None:
    """Publish and wait for the confirmation: a lost result must fail the invocation."""
    config = runtime.settings()
    future = runtime.publisher().publish(
        runtime.topic_path(config.results_topic),
        orjson.dumps(result, option=_JSON_OPTIONS),
        request_id=request_id,
        status=result["status"],
        model_version="" if model_version is None else str(model_version),
    )
    future.result(timeout=config.publish_timeout_seconds)


def _log(
    request: StreamRequest, started: float, model_version: int | None, severity: str, message: str
) -> float:
    """The request's log line; returns its latency in milliseconds."""
    latency_ms = (time.perf_counter() - started) * 1000
    logs.request(
        message,
        component=COMPONENT,
        request_id=request.request_id,
        model_version=model_version,
        latency_ms=latency_ms,
        severity=severity,
        **trace.current_request_fields(runtime.settings().project_id),
    )
    return latency_ms
