from __future__ import annotations

import pytest

from functions.platform import trace

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_traceparent_names_the_project_and_the_trace():
    found = trace.fields({"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}, "my-project")
    assert found == {
        trace.TRACE: f"projects/my-project/traces/{TRACE_ID}",
        trace.SPAN_ID: "00f067aa0ba902b7",
        trace.SAMPLED: True,
    }


def test_cloud_trace_context_with_a_decimal_span():
    found = trace.fields({"x-cloud-trace-context": f"{TRACE_ID}/123;o=0"}, "p")
    assert found == {
        trace.TRACE: f"projects/p/traces/{TRACE_ID}",
        trace.SPAN_ID: f"{123:016x}",
        trace.SAMPLED: False,
    }


def test_cloud_trace_context_without_span():
    assert trace.fields({"x-cloud-trace-context": TRACE_ID}, "p") == {
        trace.TRACE: f"projects/p/traces/{TRACE_ID}"
    }


def test_traceparent_wins_over_cloud_trace_context():
    other = "a" * 32
    found = trace.fields(
        {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-00", "x-cloud-trace-context": other},
        "p",
    )
    assert found[trace.TRACE].endswith(TRACE_ID)
    assert found[trace.SAMPLED] is False


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"traceparent": "garbage"},
        {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"},  # the all-zero id is invalid
        {"traceparent": f"ff-{TRACE_ID}-00f067aa0ba902b7-01"},  # version ff is invalid
        {"x-cloud-trace-context": "not-hex/1"},
    ],
)
def test_no_usable_header_no_trace(headers):
    assert trace.fields(headers, "p") == {}


def test_outside_a_request_there_is_no_trace():
    assert trace.current_request_fields("p") == {}


def test_a_plain_request_id_is_kept():
    assert trace.request_id({"x-request-id": "order-42.retry_1:a"}) == "order-42.retry_1:a"


@pytest.mark.parametrize(
    "given", ["", "has space", "x" * 129, "new\\nline", "<script>", "ümlaut"], ids=repr
)
def test_anything_else_gets_a_new_request_id(given):
    made = trace.request_id({"x-request-id": given})
    assert made != given
    assert len(made) == 32
    assert int(made, 16) >= 0
