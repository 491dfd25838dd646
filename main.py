"""Cloud Functions entry points; their logic lives in `functions/`."""

from __future__ import annotations

import flask
import functions_framework
from cloudevents.http import CloudEvent

from functions import http_batch, stream


@functions_framework.http  # type: ignore[untyped-decorator]
def predict_batch(request: flask.Request) -> flask.Response:
    """HTTP batch predictions (CONTRACT section 5)."""
    return http_batch.handle(request)


@functions_framework.cloud_event  # type: ignore[untyped-decorator]
def predict_stream(event: CloudEvent) -> None:
    """Pub/Sub stream predictions (CONTRACT section 6)."""
    stream.handle(event)
