"""`predict_stream`: Pub/Sub requests in, one result per request out (docs/stream.md).

The stream receives a request here and replies here by publishing its result; what lies
between is the core HTTP uses too (`functions.serving.core`), so the same bad input gets the
same error. An invalid request gets an error result and is acknowledged. A transient failure
(model storage or the results topic unavailable) raises, so the invocation fails and Pub/Sub
redelivers; after 5 attempts the subscription's dead-letter policy takes the message. The
invocation returns only once its result is confirmed published.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any

from cloudevents.http import CloudEvent

from functions.platform import logs, runtime, trace
from functions.platform.config import Settings
from functions.platform.errors import InvalidArgument, ServingError, is_transient
from functions.platform.json_bodies import error_body
from functions.serving import publishing
from functions.serving.bodies import JSON, Body
from functions.serving.core import (
    Lap,
    Prediction,
    PredictionRequest,
    no_lap,
    predict,
)
from functions.serving.parsing import Instances

COMPONENT = "predict_stream"


@dataclass(slots=True)  # made per request: a frozen one's __init__ costs 4x
class StreamRequest:
    """A prediction request as carried by one Pub/Sub message."""

    request_id: str
    data: bytes | None  # None: the message's data is not base64
    attributes: dict[str, str]

    @classmethod
    def from_event(cls, event: CloudEvent) -> StreamRequest:
        """Read the Pub/Sub message out of a push (converted) or Eventarc CloudEvent."""
        payload = _mapping(event.data)
        message = _mapping(payload.get("message"))
        attributes = {str(k): str(v) for k, v in _mapping(message.get("attributes")).items()}
        message_id = message.get("messageId") or message.get("message_id") or event["id"]
        request_id = attributes.get("request_id") or str(message_id)
        return cls(request_id, _base64(message.get("data")), attributes)

    def prediction_request(self) -> PredictionRequest:
        """The request as the core takes it: the data is the body, the attributes its headers."""
        return PredictionRequest(
            self.request_id,
            "stream",
            self._decode,
            self.attributes.get("version"),
            self.attributes.get("alias"),
            self.attributes.get("model"),
        )

    def model_name(self, config: Settings) -> str:
        """The model asked for, else the default: named in the result either way."""
        return self.attributes.get("model") or config.model_name

    def _decode(self, config: Settings) -> Instances:
        if self.data is None:
            raise InvalidArgument("the message data is not base64: publish the body's bytes")
        body = Body(
            self.data,
            length=len(self.data),
            content_type=self.attributes.get("content_type", JSON),
            content_encoding=self.attributes.get("content_encoding"),
        )
        return body.decode(config)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _base64(encoded: Any) -> bytes | None:
    if encoded is None or encoded == "":
        return b""  # no data: the core answers "the body is empty"
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def handle(event: CloudEvent, lap: Lap = no_lap) -> None:
    """Answer one message; `lap` is told each stage as it ends (bench/stages.py)."""
    started = time.perf_counter()
    request = StreamRequest.from_event(event)
    tracing = trace.current_request_fields(runtime.settings().project_id)
    lap("message_read")
    try:
        prediction, outcome = _answer(request, lap)
    except Exception as error:
        if not isinstance(error, ServingError) and not is_transient(error):
            logs.exception(  # a bug: its traceback, then the retry like any failure
                f"unhandled {type(error).__name__}: {error}",
                component=COMPONENT,
                request_id=request.request_id,
                **tracing,
            )
        log_request(request, started, None, "ERROR", f"will be redelivered: {error}", tracing)
        raise  # fail the invocation: Pub/Sub redelivers, then dead-letters
    version = prediction.model.version if prediction is not None else None
    latency_ms = log_request(request, started, version, "INFO", outcome, tracing)
    lap("request_log_line")
    if prediction is not None:  # only once its result is out: a failed request is not logged
        runtime.prediction_log().record(prediction, latency_ms)
        lap("prediction_log_handoff")


def _answer(request: StreamRequest, lap: Lap) -> tuple[Prediction | None, str]:
    """Predict and publish the result (ok, or an error result for an invalid request): the
    prediction, if any, and what was published. A transient failure raises."""
    config, models = runtime.settings(), runtime.models
    try:
        prediction = predict(request.prediction_request(), config, models, lap)
    except ServingError as error:
        if is_transient(error):
            raise
        unresolved = {"name": request.model_name(config), "version": None}
        reply(request, {"status": "error", **error_body(error), "model": unresolved}, None)
        return None, f"published error result: {error.message}"
    reply(request, {"status": "ok", **prediction.body()}, prediction.model.version)
    lap("result_publish_confirmed")
    return prediction, "published ok result"


def reply(request: StreamRequest, result: dict[str, Any], model_version: int | None) -> None:
    """Publish the result and wait for its confirmation: a lost result must fail the call."""
    config = runtime.settings()
    publishing.publish_confirmed(
        runtime.topic_path(config.results_topic),
        {"request_id": request.request_id, **result},
        {
            "request_id": request.request_id,
            "status": result["status"],
            "model": result["model"]["name"],
            "model_version": "" if model_version is None else str(model_version),
        },
        timeout=config.publish_timeout_seconds,
    )


def log_request(
    request: StreamRequest,
    started: float,
    model_version: int | None,
    severity: str,
    message: str,
    tracing: dict[str, Any],
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
        **tracing,
    )
    return latency_ms
