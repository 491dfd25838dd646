"""`POST /feedback` on `predict_batch`: a client's labels onto `prediction-feedback`, as it
could publish them itself (docs/feedback.md). Checked here, so a bad body is a 400 now
rather than an unjoinable count later; accepted once Pub/Sub confirms the message."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

from functions.platform import runtime
from functions.platform.errors import (
    BackendUnavailable,
    InvalidArgument,
    PayloadTooLarge,
    UnsupportedMediaType,
    is_backend_failure,
)
from functions.platform.responses import json_response
from functions.serving.bodies import JSON, media_type_of
from model.feedback import FeedbackError, parse_feedback

# A Pub/Sub message holds at most 10 MB; 100,000 labels take about 2.
MAX_FEEDBACK_BYTES = 8 * 1024 * 1024


def accept(headers: Mapping[str, str], body: bytes) -> Response:
    """202 once published; 400, 413 or 415 for a body that is not feedback; 503 when the
    topic cannot be reached (nothing was published: send it again)."""
    media_type = media_type_of(headers.get("content-type"))
    if media_type not in ("", JSON) or headers.get("content-encoding", "identity") != "identity":
        raise UnsupportedMediaType(f"feedback is {JSON}, not compressed")
    if len(body) > MAX_FEEDBACK_BYTES:
        raise PayloadTooLarge(f"feedback is at most {MAX_FEEDBACK_BYTES} bytes a request")
    config = runtime.settings()
    try:
        document = orjson.loads(body)
        feedback = parse_feedback(document, config.max_instances)
    except orjson.JSONDecodeError as error:
        raise InvalidArgument(f"the body is not valid JSON: {error}") from None
    except FeedbackError as error:
        raise InvalidArgument(str(error)) from None
    try:
        runtime.publisher().publish(
            runtime.topic_path(config.feedback_topic),
            orjson.dumps(document),
            request_id=feedback.request_id,
        ).result(timeout=config.publish_timeout_seconds)
    except Exception as error:
        if not is_backend_failure(error) and not isinstance(error, TimeoutError):
            raise
        raise BackendUnavailable(f"feedback could not be published: {error}") from None
    return json_response(202, {"request_id": feedback.request_id, "labels": len(feedback.labels)})
