"""`retrain`: a dataset upload's notification in, one outcome on `model-events` out.

Fed by the bucket's OBJECT_FINALIZE notifications through a push subscription (or the same
message from an Eventarc trigger, or Eventarc's own Cloud Storage event). Objects outside
datasets/<model>/incoming/ are acknowledged with a log line. Invalid data is an outcome,
not a failure; a storage or publishing failure raises, so Pub/Sub redelivers the
notification and, after 5 attempts, dead-letters it. The formats: docs/training.md.
"""

from __future__ import annotations

import base64
import binascii
import time
import traceback
from dataclasses import dataclass
from typing import Any

import orjson
from cloudevents.http import CloudEvent
from google.cloud.storage.retry import DEFAULT_RETRY

from functions.platform import logs, runtime, trace
from functions.platform.config import Settings
from functions.platform.errors import is_transient
from model.continuous_training import Upload, retrain, upload_of
from model.model_events import ModelEvent
from model.run_ledger import RunInProgress, RunLost
from model.validation import InvalidData, ValidationReport

COMPONENT = "retrain"
FINALIZE = "OBJECT_FINALIZE"
# Eventarc's direct Cloud Storage trigger sends the object resource as the event's data.
EVENTARC_FINALIZED = "google.cloud.storage.object.v1.finalized"


@dataclass(frozen=True)
class Notification:
    """The object a Cloud Storage notification is about."""

    event_type: str
    bucket: str
    name: str
    generation: int
    event_id: str

    @classmethod
    def from_event(cls, event: CloudEvent) -> Notification | str:
        """The notification in a push, Eventarc Pub/Sub or Eventarc storage event, or why not."""
        payload = _mapping(event.data)
        if event["type"] == EVENTARC_FINALIZED:
            return cls._from_object(FINALIZE, payload, str(event["id"]))
        message = _mapping(payload.get("message"))
        attributes = _mapping(message.get("attributes"))
        event_id = str(message.get("messageId") or message.get("message_id") or event["id"])
        resource = _object_resource(message.get("data"))
        if "objectId" in attributes:
            resource = {
                "bucket": attributes.get("bucketId"),
                "name": attributes.get("objectId"),
                "generation": attributes.get("objectGeneration"),
            }
        return cls._from_object(str(attributes.get("eventType", FINALIZE)), resource, event_id)

    @classmethod
    def _from_object(cls, kind: str, resource: dict[str, Any], event_id: str) -> Notification | str:
        bucket, name, generation = (resource.get(k) for k in ("bucket", "name", "generation"))
        if not (isinstance(bucket, str) and isinstance(name, str) and bucket and name):
            return f"event {event_id} names no bucket and object"
        try:
            number = int(str(generation))
        except ValueError:
            return f"event {event_id}: object generation {generation!r} is not a number"
        return cls(kind, bucket, name, number, event_id)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _object_resource(encoded: Any) -> dict[str, Any]:
    """The JSON_API_V1 payload: the object's resource, base64-encoded JSON."""
    if not isinstance(encoded, str) or not encoded:
        return {}
    try:
        return _mapping(orjson.loads(base64.b64decode(encoded, validate=True)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return {}


def handle(event: CloudEvent) -> None:
    started = time.perf_counter()
    notification = Notification.from_event(event)
    if isinstance(notification, str):
        _log(str(event["id"]), started, "WARNING", f"ignored: {notification}")
        return
    upload = _upload(notification, runtime.settings())
    if isinstance(upload, str):
        _log(notification.event_id, started, "INFO", f"ignored: {upload}")
        return
    try:
        outcome = retrain(
            runtime.registry(),
            runtime.run_ledger(),
            upload,
            lambda: _read(upload),
            runtime.settings().retrain_settings(),
        )
        _publish(outcome)
    except Exception as error:
        # Either way the invocation fails: Pub/Sub redelivers, then dead-letters. The log
        # says whether a later attempt may succeed or a person has to look.
        retry = is_transient(error) or isinstance(error, (RunInProgress, RunLost))
        kind = "transient failure" if retry else "unexpected failure"
        _log(
            notification.event_id,
            started,
            "ERROR",
            f"{upload.dataset}: {kind}, will be redelivered: {error!r}",
            transient=retry,
            # An unexpected failure is a bug until shown otherwise: its traceback, for Error
            # Reporting (docs/monitoring.md, "Logs and traces").
            **({} if retry else {"stack_trace": traceback.format_exc()}),
        )
        raise
    _log(
        notification.event_id,
        started,
        "INFO",
        f"{upload.dataset}: {outcome.event}",
        model_version=outcome.version,
        reasons=outcome.reasons,
    )


def _upload(notification: Notification, config: Settings) -> Upload | str:
    if notification.event_type != FINALIZE:
        return f"{notification.event_type} of {notification.name}: only {FINALIZE} trains"
    if notification.bucket != config.bucket:
        return f"gs://{notification.bucket}/{notification.name} is not in the registry's bucket"
    return upload_of(notification.bucket, notification.name, notification.generation)


def _read(upload: Upload) -> bytes:
    """The bytes of exactly the notified generation; InvalidData if gone or too large."""
    config = runtime.settings()
    timeout = config.storage_timeout_seconds
    retry = DEFAULT_RETRY.with_timeout(timeout)  # reads are idempotent; bounded like the rest
    bucket = runtime.storage().bucket(upload.bucket)
    blob = bucket.get_blob(upload.name, generation=upload.generation, timeout=timeout, retry=retry)
    if blob is None:
        gone = f"{upload.dataset} was replaced or deleted before it could be read: upload it again"
        raise InvalidData(ValidationReport([gone]))
    if blob.size is not None and blob.size > config.max_dataset_bytes:
        raise InvalidData(
            ValidationReport(
                [
                    f"the file is {blob.size:,} bytes, over the limit of "
                    f"{config.max_dataset_bytes:,} bytes: split it into smaller uploads"
                ]
            )
        )
    data: bytes = blob.download_as_bytes(timeout=timeout, retry=retry)
    return data


def _publish(outcome: ModelEvent) -> None:
    """Publish and wait for the confirmation: a lost outcome must fail the invocation."""
    config = runtime.settings()
    future = runtime.publisher().publish(
        runtime.topic_path(config.model_events_topic),
        orjson.dumps(outcome.data()),
        **outcome.attributes(),
    )
    future.result(timeout=config.publish_timeout_seconds)


def _log(event_id: str, started: float, severity: str, message: str, **fields: Any) -> None:
    logs.request(
        message,
        component=COMPONENT,
        request_id=event_id,
        model_version=fields.pop("model_version", None),
        latency_ms=(time.perf_counter() - started) * 1000,
        severity=severity,
        **fields,
        **trace.current_request_fields(runtime.settings().project_id),
    )
