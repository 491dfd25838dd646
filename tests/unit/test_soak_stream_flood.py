"""soak/stream_flood.py: every result pulled counts, a redelivery's included."""

from __future__ import annotations

import orjson

from functions.config import Settings
from functions.openapi import document
from soak.answers import Documented
from soak.stream_flood import Outcomes, server_errors
from soak.stream_inputs import Message
from soak.stream_ledger import Ledger, Received

DOCUMENTED = Documented(document(Settings()))
ERROR = {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}


def error_result(request_id: str, message: str = "bad") -> Received:
    data = {"request_id": request_id, "status": "error", "error": {**ERROR, "message": message}}
    attributes = {"request_id": request_id, "status": "error", "model_version": ""}
    return Received(0.0, attributes, orjson.dumps(data))


def test_a_differing_redelivery_in_the_ledger_is_counted():
    outcomes = Outcomes(sent={"a": Message("bad_json", b"{"), "b": Message("bad_json", b"{")})
    ledger = Ledger(
        results={
            "a": [error_result("a"), error_result("a")],
            "b": [error_result("b"), error_result("b", "said otherwise")],
            "not-ours": [error_result("not-ours")],
        },
        dead_letters={"c": [error_result("c")]},
    )
    outcomes.take(ledger, DOCUMENTED)
    figures = outcomes.figures()
    assert (figures["answered"], figures["lost"], figures["dead_lettered"]) == (2, 0, 0)
    assert (figures["duplicates"], figures["differing_duplicates"]) == (2, 1)
    assert figures["undocumented_results"] == 0


def test_a_request_neither_answered_nor_dead_lettered_is_lost():
    outcomes = Outcomes(sent={"a": Message("bad_json", b"{"), "d": Message("bad_json", b"{")})
    outcomes.take(Ledger(dead_letters={"d": [error_result("d")]}), DOCUMENTED)
    assert (outcomes.figures()["lost"], outcomes.figures()["dead_lettered"]) == (1, 1)


def test_server_errors_are_every_5xx():
    assert server_errors({"200": 7, "400": 3}) == 0
    assert server_errors({"200": 7, "500": 1, "503": 2}) == 3
