"""Scenario "bad_input": generated bad requests at volume, over HTTP and the stream (issue
item 1; README "What it survives").

HTTP: schemathesis cases from predict_batch's own OpenAPI document plus raw hypothesis
strategies (`soak.http_inputs`): no 5xx, no answer the document does not describe. Stream:
generated messages on prediction-requests and raw pushes (`soak.stream_inputs`): every
request answered in the documented result shape, none lost; bad input is never retried
into the dead-letter topic, since any 4xx is answered and acknowledged (docs/stream.md).
"""

from __future__ import annotations

import time

from soak import http_flood, stream_flood
from soak.answers import Documented
from soak.outcome import Outcome
from soak.system import running

HTTP_REQUESTS = 10_000
STREAM_REQUESTS = 2_000
# Draws per schemathesis operation and mode, and per raw kind: enough for HTTP_REQUESTS.
SCHEMA_EXAMPLES = 300
RAW_EXAMPLES = 560


def run() -> Outcome:
    outcome = Outcome()
    began = time.monotonic()
    with running("bad_input", only=("predict_batch", "predict_stream")) as system:
        url = system.url("predict_batch")
        document = http_flood.served_document(url)
        http = http_flood.flood(url, document, SCHEMA_EXAMPLES, RAW_EXAMPLES)
        stream = stream_flood.flood(system, Documented(document))
    outcome.figures = {
        "http": http,
        "stream": stream,
        "seconds": round(time.monotonic() - began, 1),
    }
    outcome.expect(http["requests"] >= HTTP_REQUESTS, f"at least {HTTP_REQUESTS} HTTP requests")
    outcome.expect(http["responses_5xx"] == 0, "0 HTTP responses 5xx")
    outcome.expect(http["undocumented"] == 0, "0 HTTP answers outside the OpenAPI document")
    outcome.expect(http["unanswered"] == 0, "every HTTP request answered")
    outcome.expect(
        stream["requests"] >= STREAM_REQUESTS, f"at least {STREAM_REQUESTS} stream requests"
    )
    outcome.expect(stream["raw_pushes_5xx"] == 0, "0 raw pushes answered 5xx")
    outcome.expect(stream["lost"] == 0, "every stream request answered or dead-lettered")
    outcome.expect(stream["dead_lettered"] == 0, "bad input answered, never dead-lettered")
    outcome.expect(stream["undocumented_results"] == 0, "0 results outside the documented shapes")
    outcome.expect(stream["differing_duplicates"] == 0, "a redelivery's result is identical")
    outcome.expect(stream["publish_refused"] == 0, "Pub/Sub took every generated message")
    outcome.expect(stream["good_not_ok"] == 0, "every good stream request got its predictions")
    return outcome
