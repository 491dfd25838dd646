"""Results published from the request's own thread, and confirmed before it returns.

The batching client (`pubsub_v1.PublisherClient`) suits records nobody waits for: each publish
wakes a thread that sleeps `max_latency`, a second that sends the batch, and the caller
waits on a future set by the latter. A stream invocation waits for its own result anyway,
so it sends it with one synchronous Publish call instead: no thread hand-off, no wait for a
batch to fill. The call takes plain protobuf messages straight to the client's gRPC channel,
past the GAPIC method's layers and proto-plus wrappers: measured, they cost as much Python
time as the rest of the call (docs/performance.md). Errors still become
google.api_core exceptions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as retries
from google.pubsub_v1 import PublishRequest

from functions.platform import runtime
from functions.platform.json_bodies import to_json

_RAW_REQUEST = PublishRequest.pb()  # the protobuf class under proto-plus's wrapper
# The GAPIC default's transient codes; the deadline is the caller's.
_RETRYABLE = retries.if_exception_type(
    api_exceptions.Aborted,
    api_exceptions.Cancelled,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.ResourceExhausted,
    api_exceptions.ServiceUnavailable,
    api_exceptions.Unknown,
)


def publish_confirmed(
    topic: str, document: object, attributes: Mapping[str, str], timeout: float
) -> str:
    """Publish document as JSON with attributes; its message id once Pub/Sub has stored it.

    Transient failures are retried until timeout; then, or on any other failure, it raises,
    so the invocation fails and its request is delivered again.
    """
    request = _RAW_REQUEST(topic=topic)
    message = request.messages.add()
    message.data = to_json(document)
    message.attributes.update(attributes)
    call = _retrying(runtime.publish_rpc(), timeout)
    # The routing header the GAPIC method would add: Pub/Sub routes by topic.
    response = call(
        request, timeout=timeout, metadata=(("x-goog-request-params", f"topic={topic}"),)
    )
    return str(response.message_ids[0])


@functools.lru_cache(maxsize=4)
def _retrying(rpc: Callable[..., Any], timeout: float) -> Callable[..., Any]:
    """rpc retried on transient errors until timeout, wrapped once, not per message."""
    retry = retries.Retry(predicate=_RETRYABLE, initial=0.05, maximum=1.0, timeout=timeout)
    wrapped: Callable[..., Any] = retry(rpc)
    return wrapped
