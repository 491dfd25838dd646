"""The CloudEvent functions on the ASGI server: an HTTP request in, the CloudEvent it carries
to the function's handler, its acknowledgement out (docs/stream.md, docs/training.md).

functions-framework's own ASGI CloudEvent wrapper reads CloudEvents only: it answers 400 to
the raw body a Pub/Sub push subscription sends, which is what feeds `predict_stream` and
`retrain`, locally and in the cloud. So they are served as HTTP functions that convert the
request here, as the framework's Flask path does: a CloudEvent (binary or structured, as
Eventarc sends it) as it is, a raw push into a `google.cloud.pubsub.topic.v1.messagePublished`
event by the framework's own conversion. The handler runs on a worker thread: it waits on
Cloud Storage and Pub/Sub, and the event loop serves the other deliveries meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from cloudevents.http import CloudEvent, from_http
from functions_framework import event_conversion
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from functions.platform import logs, trace
from functions.platform.errors import InvalidArgument, PayloadTooLarge, ServingError
from functions.platform.incoming import body_within
from functions.platform.responses import error_response

# A Pub/Sub message holds at most 10 MB, 13.4 MB once base64-encoded in a push.
MAX_DELIVERY_BYTES = 16 * 1024 * 1024


class _Posted:
    """What the framework's conversion reads of a request: its JSON and its path."""

    def __init__(self, document: Any, path: str) -> None:
        self._document, self.path = document, path

    def get_json(self) -> Any:
        return self._document


def cloud_event_of(headers: Mapping[str, str], path: str, body: bytes) -> CloudEvent:
    """The CloudEvent a delivery carries; InvalidArgument when it carries none."""
    if _is_cloud_event(headers):
        try:
            return from_http(dict(headers), body)
        except Exception as error:  # cloudevents raises several unrelated classes
            raise InvalidArgument(f"the request is not a valid CloudEvent: {error}") from None
    try:
        event: CloudEvent = event_conversion.background_event_to_cloud_event(
            _Posted(orjson.loads(body), path)
        )
    except Exception:
        raise InvalidArgument("the request is neither a CloudEvent nor a Pub/Sub push") from None
    return event


def _is_cloud_event(headers: Mapping[str, str]) -> bool:
    """Binary mode says so in `ce-specversion`, structured mode in its media type."""
    media_type = headers.get("content-type", "")
    return "ce-specversion" in headers or media_type.startswith("application/cloudevents")


async def serve(request: Request, handle: Callable[[CloudEvent], None], component: str) -> Response:
    """200 once `handle` returned; 400 for a delivery that carries no event; 500 when the
    handler failed (it has logged why), so Pub/Sub delivers the message again."""
    try:
        body = await _read(request)
        event = cloud_event_of(request.headers, request.scope["path"], body)
    except ServingError as error:
        logs.request(
            f"refused: {error.message}",
            component=component,
            request_id=trace.given_or_new_request_id(request.headers.get("x-request-id")),
            model_version=None,
            latency_ms=0.0,
            severity="WARNING",
            status=error.code,
        )
        return error_response(error)
    # The handler's log lines carry the delivery's trace: its thread runs in a copy of this
    # context.
    trace.delivery_headers.set(request.headers)
    try:
        await run_in_threadpool(handle, event)
    except Exception:
        return Response(b"the handler failed: redeliver", status_code=500)
    return Response(b"OK", status_code=200)


async def _read(request: Request) -> bytes:
    body = await body_within(request, MAX_DELIVERY_BYTES)
    if len(body) > MAX_DELIVERY_BYTES:
        raise PayloadTooLarge(f"a delivery is at most {MAX_DELIVERY_BYTES} bytes")
    return body
