"""Scenario "bad_input": at least 10,000 generated HTTP requests to predict_batch, from
schemathesis (the served /openapi.json) and from hypothesis strategies for what schemathesis
does not send (`http_inputs`). Targets: no 5xx, every answer in a documented shape.

Bad stream input is the ordinary tests' (tests/integration/test_parity.py: the same bad
input through both transports; test_stream_function.py: data that is not base64, empty
data, a redelivery's identical result).
"""

from __future__ import annotations

import time

import pytest

from tests.soak.flood import flood

pytestmark = pytest.mark.soak
HTTP_REQUESTS = 10_000
# Draws per schemathesis operation and mode, and per raw kind: enough for HTTP_REQUESTS.
SCHEMA_EXAMPLES = 300
RAW_EXAMPLES = 560


def test_bad_input(start_system, sampled, outcome):
    system = start_system(["predict_batch"])
    sampled(system)
    began = time.monotonic()
    http = flood(system.url("predict_batch"), SCHEMA_EXAMPLES, RAW_EXAMPLES)
    outcome.figures = {"http": http, "seconds": round(time.monotonic() - began, 1)}
    outcome.expect(http["requests"] >= HTTP_REQUESTS, f"at least {HTTP_REQUESTS} HTTP requests")
    outcome.expect(http["responses_5xx"] == 0, "0 HTTP responses 5xx")
    outcome.expect(http["undocumented"] == 0, "0 HTTP answers outside the OpenAPI document")
    outcome.expect(http["unanswered"] == 0, "every HTTP request answered")
    outcome.assert_met()
