"""`join_feedback`: labels and logged predictions in, each labelled instance joined once
(docs/feedback.md).

Two push subscriptions feed it: `prediction-feedback-push` (labels) and
`prediction-log-join-sub` (the prediction log). A push's path names its topic, which the
CloudEvent's source carries (Eventarc's events name it the same way), so the handler knows
which side arrived. A message that is not feedback is kept as unjoinable and acknowledged;
a storage failure fails the invocation, so Pub/Sub delivers it again. `POST /sweep`, daily
from Cloud Scheduler, decides the labels whose prediction did not come within the window.
"""

from __future__ import annotations

import base64
import binascii
import time
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cloudevents.http import CloudEvent
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from functions.platform import cloud_events, logs, runtime, trace
from functions.platform.errors import MethodNotAllowed, ServingError, is_backend_failure
from functions.platform.responses import error_response, json_response
from model.feedback import INVALID_MESSAGE, FeedbackError, FeedbackStore, Tally, parse_feedback

COMPONENT = "join_feedback"
_store: FeedbackStore | None = None


async def serve(request: Request) -> Response:
    """`POST /sweep`, or a delivery of either topic."""
    if request.scope["path"] == "/sweep":
        return await run_in_threadpool(sweep, request)
    return await cloud_events.serve(request, handle, COMPONENT)


def store() -> FeedbackStore:
    global _store
    if _store is None:
        config = runtime.settings()
        _store = FeedbackStore(runtime.storage(), config.bucket, config.storage_timeout_seconds)
    return _store


def handle(event: CloudEvent) -> None:
    """One delivery of either topic; raises on a failure worth delivering again."""
    started = time.perf_counter()
    config = runtime.settings()
    topic = str(event["source"]).rsplit("/", 1)[-1]
    message = event.data.get("message", {}) if isinstance(event.data, dict) else {}
    message_id = str(message.get("messageId") or event["id"])
    data = _data(message.get("data"))
    try:
        if topic == config.prediction_log_topic:
            tally, what = _prediction(data), "prediction"
        elif topic == config.feedback_topic:
            received = str(message.get("publishTime") or event["time"] or _now().isoformat())
            tally, what = _labels(data, received, message_id), "labels"
        else:
            _log(message_id, started, "WARNING", f"ignored: an event of {event['source']}")
            return
    except Exception as error:
        transient = is_backend_failure(error)
        _log(
            message_id,
            started,
            "ERROR",
            f"{topic}: {'transient' if transient else 'unexpected'} failure, will be "
            f"redelivered: {error!r}",
            transient=transient,
            **({} if transient else {"stack_trace": traceback.format_exc()}),
        )
        raise
    if tally is not None:
        _log(message_id, started, "INFO", f"{what}: {tally.joined} joined", **tally.fields())


def _prediction(data: bytes | None) -> Tally | None:
    """A log record: kept only for a model that takes feedback (the others' records are
    samples no label could rely on)."""
    try:
        record = orjson.loads(data or b"")
    except orjson.JSONDecodeError:
        logs.warning("ignored: a log record that is not JSON", component=COMPONENT)
        return None
    if not isinstance(record, dict) or not record.get("feedback"):
        return None
    return store().add_prediction(record, data or b"")


def _labels(data: bytes | None, received: str, message_id: str) -> Tally:
    try:
        feedback = parse_feedback(orjson.loads(data or b""), runtime.settings().max_instances)
    except (orjson.JSONDecodeError, FeedbackError) as error:
        reason = "the data is not JSON" if isinstance(error, orjson.JSONDecodeError) else error
        store().add_invalid(message_id, str(reason), data or b"", received)
        tally = Tally()
        tally.unjoinable[INVALID_MESSAGE] += 1
        return tally
    return store().add_labels(feedback, received, message_id)


def _data(encoded: Any) -> bytes | None:
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return None


def sweep(request: Request) -> Response:
    """`POST /sweep`: labels past the window decided; the tally as JSON."""
    started = time.perf_counter()
    request_id = trace.request_id(request.headers)
    try:
        if request.method != "POST":
            raise MethodNotAllowed(f"/sweep accepts POST only, not {request.method}", ("POST",))
        retention = timedelta(days=runtime.settings().feedback_retention_days)
        tally = store().sweep(_now(), retention)
        response = json_response(200, tally.fields())
    except ServingError as error:
        tally, response = None, error_response(error)
    except Exception as error:
        if not is_backend_failure(error):
            raise
        tally, response = None, error_response(ServingError(f"storage unavailable: {error}"))
    _log(
        request_id,
        started,
        "INFO" if response.status_code < 500 else "ERROR",
        f"sweep {response.status_code}",
        **(tally.fields() if tally else {}),
    )
    return response


def _now() -> datetime:
    return datetime.now(UTC)


def _log(request_id: str, started: float, severity: str, message: str, **fields: Any) -> None:
    logs.request(
        message,
        component=COMPONENT,
        request_id=request_id,
        model_version=None,
        latency_ms=(time.perf_counter() - started) * 1000,
        severity=severity,
        **fields,
        **trace.current_request_fields(runtime.settings().project_id),
    )
