"""The framework floors: functions that do nothing a request could be slower than.

Served by functions-framework with the same settings as the functions measured, they show
what the server, the framework and (for the stream) the emulator's pushes cost per request,
below which no function can go.
"""

from __future__ import annotations

import os
import time

import flask
import functions_framework
from cloudevents.http import CloudEvent

# The shape of a one-instance prediction answer, so both send the same bytes back.
_BODY = b'{"predictions":[206.1],"model":{"name":"diabetes-bmi","version":1}}'
FLOOR_SOURCE = "bench/floor.py"  # as functions-framework's --source, from the repository
RECEIVED = "STREAM_FLOOR_RECEIVED"  # the mark of stream_floor's lines in its log


@functions_framework.http  # type: ignore[untyped-decorator]
def floor(request: flask.Request) -> flask.Response:
    """Answer at once, without reading the body."""
    return flask.Response(_BODY, status=200, mimetype="application/json")


@functions_framework.cloud_event  # type: ignore[untyped-decorator]
def stream_floor(event: CloudEvent) -> None:
    """Acknowledge a push at once; one line on stdout (one system call) says when it came."""
    attributes = event.data["message"].get("attributes") or {}
    os.write(1, f"{RECEIVED} {attributes.get('request_id')} {time.time():.6f}\n".encode())
