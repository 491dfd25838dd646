"""The stream soak's figures and targets, from what was published, what came back and
predict_stream's log (docs/stream.md: one result per request, identical on redelivery, or
the request intact in the dead-letter topic)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from bench.timing import median, percentile
from model.artifact import ModelArtifact
from soak.outcome import Outcome
from soak.storage_outage import StorageOutage
from soak.stream_ledger import Ledger, Received
from soak.stream_requests import DEAD_LETTER, StreamRequest

LOST = "lost"
MALFORMED = "malformed"  # a result with no error code, or not a JSON object at all
_EXAMPLES = 5
_REDELIVERED = "will be redelivered"
_MODEL_LOADED = "serving a new model version"
_STORAGE_DOWN = "storage unavailable"  # model_cache's reason, for aliases and versions alike


@dataclass(frozen=True)
class Kill:
    pid: int
    at: float  # wall clock
    new_pid: int | None
    respawned_at: float | None


@dataclass(frozen=True)
class Run:
    requests: list[StreamRequest]
    sent: dict[str, float]  # request id -> when published (wall clock)
    ledger: Ledger
    served: ModelArtifact
    kills: list[Kill]
    outage: StorageOutage
    outage_seconds: float  # how long the outage was meant to last
    began: float  # the first wave
    drained: float  # the last id accounted for
    log: str  # predict_stream's


def judge(run: Run) -> Outcome:
    outcome = Outcome()
    got = {request.request_id: _got(run.ledger, request.request_id) for request in run.requests}
    _account(outcome, run, got)
    _check_results(outcome, run)
    _check_faults(outcome, run)
    outcome.figures["latency_ms"] = _latencies(run)
    return outcome


def _got(ledger: Ledger, request_id: str) -> str:
    """What the request ended with: "ok", "error <code>", MALFORMED, DEAD_LETTER or LOST."""
    results = ledger.results.get(request_id)
    if not results:
        return DEAD_LETTER if request_id in ledger.dead_letters else LOST
    result = results[0].result()
    if result is None:
        return MALFORMED
    if result.get("status") == "ok":
        return "ok"
    error = result.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return MALFORMED if code is None else f"error {code}"


def _account(outcome: Outcome, run: Run, got: dict[str, str]) -> None:
    ledger = run.ledger
    ids = [request.request_id for request in run.requests]
    outcomes = Counter(got.values())
    both = [i for i in ids if i in ledger.results and i in ledger.dead_letters]
    duplicates = sum(len(ledger.results.get(i, [])) - 1 for i in ids if i in ledger.results)
    should_dead_letter = {r.request_id for r in run.requests if r.expected == DEAD_LETTER}
    unexpected = [r for r in run.requests if got[r.request_id] != r.expected]
    outcome.figures |= {
        "published": len(run.sent),
        "poison_by_kind": dict(
            Counter(r.poison.kind for r in run.requests if r.poison is not None)
        ),
        "answered_ok": outcomes["ok"],
        "answered_malformed": outcomes[MALFORMED],
        "answered_error_by_code": {
            got_.split()[1]: count for got_, count in sorted(outcomes.items()) if " " in got_
        },
        "results_pulled": sum(len(found) for found in ledger.results.values()),
        "duplicate_results": duplicates,
        "ids_with_duplicates": sum(1 for i in ids if len(ledger.results.get(i, [])) > 1),
        "dead_lettered": sum(1 for i in ids if i in ledger.dead_letters),
        "dead_letters_pulled": sum(len(found) for found in ledger.dead_letters.values()),
        "lost": outcomes[LOST],
        "answered_and_dead_lettered": len(both),
        "unexpected_outcomes": len(unexpected),
        "results_of_no_request_sent": len(set(ledger.results) - set(ids)),
    }
    outcome.expect(
        outcomes[LOST] == 0,
        f"no request id lost ({outcomes[LOST]} lost: {_ids(got, LOST)})",
    )
    outcome.expect(
        not both, f"no id both answered and dead-lettered ({len(both)}: {both[:_EXAMPLES]})"
    )
    dead = {i for i in ids if i in ledger.dead_letters}
    outcome.expect(
        dead == should_dead_letter,
        f"the dead-lettered ids exactly the unservable poison "
        f"({len(dead - should_dead_letter)} others dead-lettered "
        f"{sorted(dead - should_dead_letter)[:_EXAMPLES]}, "
        f"{len(should_dead_letter - dead)} poison not dead-lettered)",
    )
    outcome.expect(
        not unexpected,
        f"every request ends as docs/stream.md says ({len(unexpected)} did not: "
        + ", ".join(
            f"{r.request_id} expected {r.expected}, got {got[r.request_id]}"
            for r in unexpected[:_EXAMPLES]
        )
        + ")",
    )
    outcome.expect(
        ledger.unattributed == 0,
        f"every message has a request_id ({ledger.unattributed} had none)",
    )


def _ids(got: dict[str, str], ending: str) -> list[str]:
    return sorted(i for i, value in got.items() if value == ending)[:_EXAMPLES]


def _check_results(outcome: Outcome, run: Run) -> None:
    """Duplicates identical; results in docs/stream.md's shape with the model's own
    predictions; dead letters the requests themselves."""
    differing, malformed, altered = [], [], []
    for request in run.requests:
        results = run.ledger.results.get(request.request_id, [])
        if any(not _same(results[0], other) for other in results[1:]):
            differing.append(request.request_id)
        if results and not _well_formed(request, results[0], run.served):
            malformed.append(request.request_id)
        for letter in run.ledger.dead_letters.get(request.request_id, []):
            if (
                letter.data != request.data
                or not request.attributes.items() <= letter.attributes.items()
            ):
                altered.append(request.request_id)
    outcome.figures |= {
        "differing_duplicates": len(differing),
        "malformed_results": len(malformed),
        "altered_dead_letters": len(altered),
    }
    outcome.expect(
        not differing,
        f"a request's results identical ({len(differing)} differ: {differing[:_EXAMPLES]})",
    )
    outcome.expect(
        not malformed,
        f"every result as documented ({len(malformed)} not: {malformed[:_EXAMPLES]})",
    )
    outcome.expect(
        not altered,
        f"every dead letter the request itself ({len(altered)} not: {altered[:_EXAMPLES]})",
    )


def _same(first: Received, other: Received) -> bool:
    """A redelivery's result: identical data and attributes (only Pub/Sub's own message id
    and publish time may differ)."""
    if first.attributes != other.attributes:
        return False
    result = first.result()  # field order aside, as JSON; byte for byte when not JSON
    return other.data == first.data if result is None else result == other.result()


def _well_formed(request: StreamRequest, received: Received, model: ModelArtifact) -> bool:
    result, attributes = received.result(), received.attributes
    if result is None:
        return False
    if not request.request_id == result.get("request_id") == attributes.get("request_id"):
        return False
    if attributes.get("status") != result.get("status"):
        return False
    if result.get("status") == "error":
        error = result.get("error")
        return (
            attributes.get("model_version") == ""
            and isinstance(error, dict)
            and {"code", "status", "message"} <= set(error)
        )
    expected = model.predict(np.asarray(request.rows, dtype=np.float64)).tolist()
    predictions = result.get("predictions", [])
    return (
        attributes.get("model_version") == str(model.version)
        and result.get("model") == {"name": model.name, "version": model.version}
        and len(predictions) == len(expected)
        and all(
            math.isclose(a, b, rel_tol=1e-12) for a, b in zip(predictions, expected, strict=True)
        )
    )


def _check_faults(outcome: Outcome, run: Run) -> None:
    """Both kills done, each answered by a new worker that loaded the model again; the
    second inside the outage, so that worker had no model until storage was back."""
    began, ended = run.outage.began or 0.0, run.outage.ended or 0.0
    lines = [orjson.loads(line) for line in run.log.splitlines() if line.startswith("{")]
    good = {r.request_id for r in run.requests if r.poison is None}
    loads = [_when(line) for line in lines if line.get("message") == _MODEL_LOADED]
    failed = [line for line in lines if str(line.get("message", "")).startswith(_REDELIVERED)]
    on_storage = [
        line
        for line in failed
        if _STORAGE_DOWN in str(line["message"]) and began <= _when(line) <= ended + 1
    ]
    outcome.figures |= {
        "worker_kills": [_kill_figures(kill, run.began, began, ended) for kill in run.kills],
        "storage_outage": {
            "from_s": round(began - run.began, 2),
            "to_s": round(ended - run.began, 2),
            "seconds": round(ended - began, 2),
        },
        "model_loads_s": [round(load - run.began, 2) for load in loads],
        "redelivered_attempts": {
            "good": sum(1 for line in failed if line.get("request_id") in good),
            "poison": sum(1 for line in failed if line.get("request_id") not in good),
        },
        "failed_on_storage_during_outage": {
            "good": sum(1 for line in on_storage if line.get("request_id") in good),
            "poison": sum(1 for line in on_storage if line.get("request_id") not in good),
        },
        "publish_seconds": round(max(run.sent.values()) - run.began, 1),
        "drain_seconds": round(run.drained - max(run.sent.values()), 1),
    }
    kills = run.kills
    outcome.expect(
        len(kills) == 2 and all(kill.new_pid for kill in kills),
        f"the worker killed twice, each time replaced ({len(kills)} kills, new workers "
        f"{[kill.new_pid for kill in kills]})",
    )
    outcome.expect(
        ended - began >= run.outage_seconds,
        f"storage unreachable for {run.outage_seconds:g} s (it was {ended - began:.1f} s)",
    )
    outcome.expect(
        len(kills) == 2 and began <= kills[1].at <= ended,
        "the second kill inside the storage outage",
    )
    outcome.expect(
        len(loads) == 1 + len(kills)
        and all(kill.at < load for kill, load in zip(kills, loads[1:], strict=True)),
        f"one model load per worker, each after its start ({len(loads)} loads for "
        f"{1 + len(kills)} workers)",
    )
    outcome.expect(
        bool(loads) and loads[-1] >= ended,
        "the worker started inside the outage loaded its model only once storage was back",
    )


def _when(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(line["time"])).timestamp()


def _kill_figures(kill: Kill, start: float, began: float, ended: float) -> dict[str, Any]:
    return {
        "pid": kill.pid,
        "at_s": round(kill.at - start, 2),
        "new_pid": kill.new_pid,
        "respawn_s": None if kill.respawned_at is None else round(kill.respawned_at - kill.at, 2),
        "during_outage": began <= kill.at <= ended,
    }


def _latencies(run: Run) -> dict[str, Any]:
    """Publish → first result (Pub/Sub's publish time), for requests whose wait overlapped a
    fault (a kill until the new worker, the outage) and for the others."""
    windows = [(k.at, k.respawned_at or k.at) for k in run.kills]
    if run.outage.began is not None and run.outage.ended is not None:
        windows.append((run.outage.began, run.outage.ended))
    inside: list[float] = []
    outside: list[float] = []
    for request_id, results in run.ledger.results.items():
        if request_id not in run.sent:
            continue
        sent, answered = run.sent[request_id], results[0].published
        overlaps = any(sent <= end and start <= answered for start, end in windows)
        (inside if overlaps else outside).append((answered - sent) * 1000)
    return {"outside_faults": _summary(outside), "overlapping_faults": _summary(inside)}


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": round(median(values), 1),
        "p99": round(percentile(values, 99), 1),
    }
