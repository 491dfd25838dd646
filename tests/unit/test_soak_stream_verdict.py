"""soak/stream_verdict.py: how each request ended, and the faults' targets."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from soak.outcome import Outcome
from soak.stream_ledger import Ledger, Received
from soak.stream_requests import DEAD_LETTER
from soak.stream_verdict import LOST, MALFORMED, Kill, Run, _check_faults, _got, _same


def answered(*documents: object) -> Ledger:
    results = [Received(0.0, {"request_id": "r"}, orjson.dumps(d)) for d in documents]
    return Ledger(results={"r": results})


@pytest.mark.parametrize(
    ("document", "ending"),
    [
        ({"status": "ok", "predictions": [1.0]}, "ok"),
        ({"status": "error", "error": {"code": 400}}, "error 400"),
        ({"status": "error"}, MALFORMED),
        ({"status": "error", "error": "bad"}, MALFORMED),
        ({"status": "error", "error": {}}, MALFORMED),
        ([1, 2], MALFORMED),
    ],
)
def test_a_result_ends_its_request_and_a_malformed_one_is_counted(document, ending):
    assert _got(answered(document), "r") == ending


def test_a_request_without_a_result_is_dead_lettered_or_lost():
    letter = Received(0.0, {"request_id": "d"}, b"{}")
    ledger = Ledger(dead_letters={"d": [letter]})
    assert (_got(ledger, "d"), _got(ledger, "x")) == (DEAD_LETTER, LOST)


def test_duplicates_are_the_same_only_when_identical():
    ok = Received(0.0, {"request_id": "r"}, b'{"status": "ok", "predictions": [1.0]}')
    reordered = Received(1.0, {"request_id": "r"}, b'{"predictions": [1.0], "status": "ok"}')
    other = Received(1.0, {"request_id": "r"}, b'{"status": "ok", "predictions": [2.0]}')
    garbage = Received(1.0, {"request_id": "r"}, b"not json")
    assert _same(ok, reordered)
    assert not _same(ok, other)
    assert not _same(ok, garbage)
    assert _same(garbage, garbage)


def faults_run(outage_from: float, outage_to: float, outage_seconds: float) -> Run:
    kills = [Kill(1, 115.0, 2, 116.0), Kill(2, outage_from + 0.5, 3, outage_from + 1.0)]
    return Run(
        requests=[],
        sent={"r": 100.0},
        ledger=Ledger(),
        served=None,
        kills=kills,
        outage=SimpleNamespace(began=outage_from, ended=outage_to),
        outage_seconds=outage_seconds,
        began=100.0,
        drained=200.0,
        log="",
    )


def test_the_outage_must_last_as_long_as_the_run_says():
    long_enough, too_short = Outcome(), Outcome()
    _check_faults(long_enough, faults_run(135.0, 141.0, outage_seconds=5.0))
    _check_faults(too_short, faults_run(135.0, 141.0, outage_seconds=10.0))
    assert not any("storage unreachable" in miss for miss in long_enough.misses)
    assert any("storage unreachable for 10 s" in miss for miss in too_short.misses)
