"""A request's identity in the logs: its request id, and the trace fields with which Cloud
Logging groups a line with the request's trace.

Cloud Run forwards `traceparent` (W3C Trace Context) and `X-Cloud-Trace-Context`
(`TRACE_ID/SPAN_ID;o=1`); either becomes `logging.googleapis.com/trace` =
`projects/<project>/traces/<trace id>`, with the span id and the sampling decision.
"""

from __future__ import annotations

import contextvars
import os
import random
import re
from collections.abc import Mapping
from typing import Any

TRACE = "logging.googleapis.com/trace"
SPAN_ID = "logging.googleapis.com/spanId"
SAMPLED = "logging.googleapis.com/trace_sampled"
_TRACEPARENT = re.compile(
    r"^(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})"
)
_CLOUD_TRACE = re.compile(r"^(?P<trace>[0-9a-fA-F]{32})(?:/(?P<span>\d{1,20}))?(?:;o=(?P<o>[01]))?")
_NO_TRACE = "0" * 32
# A caller's X-Request-Id is echoed in the answer's header and in the logs: only a plain token.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ids = random.Random(os.urandom(32))  # noqa: S311 - trace ids must be unique, not secret
# The headers of the delivery an event function is handling (functions/platform/cloud_events.py).
delivery_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "delivery_headers", default=None
)


def _reseed_ids() -> None:
    """A forked child (a gunicorn worker) must not repeat its parent's or a sibling's ids."""
    _ids.seed(os.urandom(32))


# Headers are looked up by lower-case name: what ASGI servers hand over, and what both
# Starlette's case-insensitive headers and predict_batch's plain dict of them answer to.


def request_id(headers: Mapping[str, str]) -> str:
    """The caller's X-Request-Id when it is a plain token of at most 128 characters, else a
    new random id."""
    return given_or_new_request_id(headers.get("x-request-id"))


def given_or_new_request_id(given: str | None) -> str:
    """request_id for the header's value, when the caller has it at hand."""
    if given and _REQUEST_ID.fullmatch(given):
        return given
    # Not os.urandom: it releases the GIL, which hands the request's core to any thread
    # waiting for it. Unique, not secret: seeded from os.urandom per process.
    return f"{_ids.getrandbits(128):032x}"


def fields(headers: Mapping[str, str] | None, project_id: str) -> dict[str, Any]:
    """The trace fields for a request with these headers; empty when it carries none."""
    if headers is None:
        return {}
    return header_fields(
        headers.get("traceparent"), headers.get("x-cloud-trace-context"), project_id
    )


def header_fields(
    traceparent: str | None, cloud_trace_context: str | None, project_id: str
) -> dict[str, Any]:
    """The trace fields of these two headers' values (None: absent)."""
    if traceparent:
        parent = _TRACEPARENT.match(str(traceparent).strip().lower())
        if parent and parent["version"] != "ff" and parent["trace"] != _NO_TRACE:
            return {
                TRACE: f"projects/{project_id}/traces/{parent['trace']}",
                SPAN_ID: parent["span"],
                SAMPLED: int(parent["flags"], 16) & 1 == 1,
            }
    if not cloud_trace_context:
        return {}
    cloud = _CLOUD_TRACE.match(str(cloud_trace_context).strip())
    if cloud and cloud["trace"] != _NO_TRACE:
        found: dict[str, Any] = {TRACE: f"projects/{project_id}/traces/{cloud['trace'].lower()}"}
        if cloud["span"] and 0 < int(cloud["span"]) < 2**64:
            found[SPAN_ID] = f"{int(cloud['span']):016x}"  # Cloud Logging wants 16 hex digits
        if cloud["o"] is not None:
            found[SAMPLED] = cloud["o"] == "1"
        return found
    return {}


def current_request_fields(project_id: str) -> dict[str, Any]:
    """The trace fields of the delivery an event function is handling, if any (the Pub/Sub
    push or the Eventarc request that carried its event)."""
    return fields(delivery_headers.get(), project_id)


os.register_at_fork(after_in_child=_reseed_ids)
