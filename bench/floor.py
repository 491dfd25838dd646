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
import functions_framework.aio
import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

# The shape of a one-instance prediction answer, so both send the same bytes back.
_BODY = b'{"predictions":[206.1],"model":{"name":"diabetes-bmi","version":1}}'
FLOOR_SOURCE = "bench/floor.py"  # as functions-framework's --source, from the repository
RECEIVED = "STREAM_FLOOR_RECEIVED"  # the mark of stream_floor's lines in its log


@functions_framework.aio.http  # type: ignore[untyped-decorator]
async def floor(request: Request) -> Response:
    """Answer at once, without reading the body, on the ASGI server predict_batch runs on."""
    return Response(_BODY, status_code=200, media_type="application/json")


# The first model's shape (one feature): the numbers do not matter, the dot product does.
_WEIGHTS = np.array([949.4])
_MODEL = {"name": "diabetes-bmi", "version": 1}


@functions_framework.aio.http  # type: ignore[untyped-decorator]
async def correct_floor(request: Request) -> Response:
    """The least a correct one-instance answer takes on the same server: read the body,
    decode its JSON, check the shape and finiteness, predict with a dot product, encode. No
    routing, headers, model registry, log line or prediction log: where predict_batch falls
    short of this, its own code is the cause; where this falls short of `floor`, no correct
    handler can do better."""
    document = orjson.loads(await request.body())
    instances = np.asarray(document["instances"], dtype=np.float64)
    if (
        instances.ndim != 2
        or instances.shape[1] != len(_WEIGHTS)
        or not np.isfinite(instances).all()
    ):
        return Response(b'{"error": "bad instances"}', status_code=400)
    predictions = instances @ _WEIGHTS + 152.1
    body = orjson.dumps({"predictions": predictions.tolist(), "model": _MODEL})
    return Response(body, status_code=200, media_type="application/json")


@functions_framework.http  # type: ignore[untyped-decorator]
def flask_floor(request: flask.Request) -> flask.Response:
    """The same on the framework's Flask server (gunicorn threads), for the record."""
    return flask.Response(_BODY, status=200, mimetype="application/json")


@functions_framework.aio.http  # type: ignore[untyped-decorator]
async def stream_floor(request: Request) -> Response:
    """Acknowledge a push at once; one line on stdout (one system call) says when it came."""
    message = orjson.loads(await request.body())["message"]
    attributes = message.get("attributes") or {}
    os.write(1, f"{RECEIVED} {attributes.get('request_id')} {time.time():.6f}\n".encode())
    return Response(b"OK")
