"""soak/echo_probes.py: what counts as an echo of the input in a response header."""

from __future__ import annotations

from soak.echo_probes import MARKER, VALID_TOKEN, Answer, Probe, echoes, probes

PLAIN = [("Content-Type", "application/json"), ("Content-Length", "15")]


def probe(request_id: str | None = None) -> Probe:
    return Probe("x_request_id", b"GET /health HTTP/1.1\r\n\r\n", request_id)


def test_a_valid_token_echoed_as_sent_is_by_design():
    answer = Answer(200, [*PLAIN, ("X-Request-Id", VALID_TOKEN)])
    assert echoes(probe(VALID_TOKEN), answer) == []


def test_the_marker_in_any_other_header_is_an_echo():
    answer = Answer(404, [*PLAIN, ("Allow", f"GET, {MARKER}")])
    assert echoes(probe(), answer) == [f"x_request_id: Allow: 'GET, {MARKER}'"]


def test_an_invalid_token_echoed_is_an_echo():
    sent = f"{MARKER} with spaces"
    answer = Answer(200, [*PLAIN, ("X-Request-Id", sent)])
    assert len(echoes(probe(sent), answer)) == 1


def test_a_header_predict_batch_never_sends_is_an_injection():
    answer = Answer(200, [*PLAIN, ("Set-Cookie", "x=1")])
    assert echoes(probe(), answer) == [
        "x_request_id: a header 'Set-Cookie' predict_batch never sends"
    ]


def test_a_raw_line_break_ends_the_request_id_the_server_reads():
    split = [p for p in probes() if p.place == "x_request_id" and b"\r\nSet-Cookie" in p.request]
    assert split
    assert {p.request_id for p in split} == {MARKER}
