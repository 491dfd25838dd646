"""Results published from the request's own thread, and confirmed before it returns.

The batching client (`pubsub_v1.PublisherClient`) suits records nobody waits for: each publish
wakes a thread that sleeps `max_latency`, a second that sends the batch, and the caller
waits on a future set by the latter. A stream invocation waits for its own result anyway,
so it sends it with one synchronous Publish call instead: no thread hand-off, no wait for a
batch to fill (docs/stream.md, "Performance" in README.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as retries
from google.pubsub_v1 import PubsubMessage

from functions import runtime
from functions.prediction import to_json

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
    message = PubsubMessage(data=to_json(document), attributes=dict(attributes))
    response = runtime.confirmed_publisher().publish(
        topic=topic,
        messages=[message],
        retry=retries.Retry(predicate=_RETRYABLE, initial=0.05, maximum=1.0, timeout=timeout),
        timeout=timeout,
    )
    return str(response.message_ids[0])
