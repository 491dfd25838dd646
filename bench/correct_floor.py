"""`stream_correct_floor`: the least a correct stream handler does, served as predict_stream is.

It decodes the message's JSON, predicts with a numpy dot product, publishes the result to the
results topic, waits for Pub/Sub to confirm it, writes one log line and returns (the push is
acknowledged). No validation, no model registry, no prediction log, no retries: what is left
is the work no correct handler can skip, so where predict_stream's rate falls short of this
floor's, its own code is the cause.

Its own module, apart from bench/floor.py: it creates its publisher at import, which only a
process served with the rig's environment (the emulator's address) can do.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import functions_framework.aio
import numpy as np
import orjson
from google.api_core import grpc_helpers
from google.cloud import pubsub_v1
from google.pubsub_v1 import PublishRequest, PublishResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

# Fixed weights of the first model's shape (one feature, bmi): the numbers do not matter,
# the dot product does.
_WEIGHTS = np.array([949.4])
_BIAS = 152.1
_MODEL = {"name": "diabetes-bmi", "version": 1}
_TOPIC = f"projects/{os.environ['GOOGLE_CLOUD_PROJECT']}/topics/{os.environ['RESULTS_TOPIC']}"
# The confirmed publish predict_stream pays (functions/publishing.py): one synchronous Publish
# call of plain protobuf on a PublisherClient's channel, from the request's thread. Waiting on
# the batching client's future, or the GAPIC method's proto-plus layers, would cost this
# floor more Python time than predict_stream spends, and flatter the ratio.
_PUBLISH = grpc_helpers.wrap_errors(
    pubsub_v1.PublisherClient().transport.grpc_channel.unary_unary(
        "/google.pubsub.v1.Publisher/Publish",
        request_serializer=PublishRequest.pb().SerializeToString,
        response_deserializer=PublishResponse.pb().FromString,
    )
)
_PUBLISH_TIMEOUT = 10.0  # seconds; a result not confirmed by then fails the push (redelivery)


@functions_framework.aio.http  # type: ignore[untyped-decorator]
async def stream_correct_floor(request: Request) -> Response:
    """The push read on the event loop, answered on a worker thread, as predict_stream is."""
    message: dict[str, Any] = orjson.loads(await request.body())["message"]
    await run_in_threadpool(_answer, message)
    return Response(b"OK")


def _answer(message: dict[str, Any]) -> None:
    started = time.perf_counter()
    request_id = (message.get("attributes") or {}).get("request_id") or message["messageId"]
    instances = orjson.loads(base64.b64decode(message["data"]))["instances"]
    predictions = np.asarray(instances, dtype=np.float64) @ _WEIGHTS + _BIAS
    request = PublishRequest.pb()(topic=_TOPIC)
    result = request.messages.add()
    result.data = orjson.dumps(
        {
            "request_id": request_id,
            "status": "ok",
            "predictions": predictions.tolist(),
            "model": _MODEL,
        }
    )
    result.attributes.update({"request_id": request_id, "status": "ok", "model_version": "1"})
    _PUBLISH(request, timeout=_PUBLISH_TIMEOUT)  # returns once Pub/Sub has stored it
    # The shape of predict_stream's request line, which bench/stream.py follows for both.
    latency_ms = (time.perf_counter() - started) * 1000
    os.write(1, orjson.dumps({"request_id": request_id, "latency_ms": latency_ms}) + b"\n")
