"""Scenario "stream_faults": 10,000 requests to prediction-requests, 5% poison, published in
waves while predict_stream's gunicorn worker is SIGKILLed twice and Cloud Storage refuses
connections for 10 s. The second kill falls inside the outage, so the fresh worker starts
with no model and no storage. Targets: every request id ends with exactly one distinct
result (duplicates counted, all identical) or in the dead-letter topic, none lost; the
dead-lettered are exactly the poison that can never be served (docs/stream.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import time
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pytest

from infra import names
from infra.local.system import LocalSystem
from model.artifact import ModelArtifact
from model.registry import version_path
from tests.soak.stream import DEAD_LETTER, Collector, Received, StreamRequest, generate

pytestmark = pytest.mark.soak
FUNCTION = "predict_stream"
REQUESTS = 10_000
WAVES = 20
# ~140 requests/s offered: a little under what the emulator's push delivers here with the
# faults, so a request's wait is the faults', not a backlog's.
WAVE_SECONDS = 3.5
FIRST_KILL_AT = 15.0  # seconds after the first wave; then the outage, a kill just inside it
OUTAGE_AT = 35.0
SECOND_KILL_AFTER_OUTAGE_BEGAN = 0.5
# As long as the function's own storage retries (STORAGE_TIMEOUT_SECONDS): the fresh worker
# may ride it out inside them or answer 503 (pushed again); counted either way.
OUTAGE_SECONDS = 10.0
DRAIN_TIMEOUT = 150.0  # after the last wave; the backlog drains in well under it
SETTLE_SECONDS = 5.0  # pulling on once all are accounted for, for late duplicates
RESPAWN_TIMEOUT = 30.0
EXAMPLES = 5  # ids named in a miss
LOST, MALFORMED = "lost", "malformed"


def test_stream_faults(start_system, sampled, outcome, tmp_path):
    system = start_system([FUNCTION], storage_root=tmp_path / "gcs")
    sampled(system)
    served, tampered = _models(system)
    requests = generate(REQUESTS, uuid.uuid4().hex[:8], served.features[0], tampered)
    collector = Collector(system)
    kills: list[tuple[int, float, int | None, float]] = []  # pid, at, new pid, respawned at
    outage: list[float] = []  # when storage went down and came back (wall clock)
    try:
        began = time.time()
        sent = _publish_under_faults(system, requests, kills, outage)
        drained = collector.wait_for(sent, DRAIN_TIMEOUT, SETTLE_SECONDS)
    finally:
        ledger = collector.stop()
        if len(outage) == 1:
            system.start_storage()  # failed mid-outage: the system's stop() expects storage
    _judge(outcome, requests, sent, ledger, served)
    down, up = [*outage, 0.0, 0.0][:2]
    windows = [(at, respawned) for _, at, _, respawned in kills] + [(down, up)]
    outcome.figures |= {
        "worker_kills": [
            {
                "pid": pid,
                "at_s": round(at - began, 2),
                "new_pid": new,
                "respawn_s": round(respawned - at, 2),
                "during_outage": down <= at <= up,
            }
            for pid, at, new, respawned in kills
        ],
        "storage_outage": {
            "from_s": round(down - began, 2),
            "to_s": round(up - began, 2),
            "seconds": round(up - down, 2),
        },
        "publish_seconds": round(max(sent.values()) - began, 1),
        "drain_seconds": round(drained - max(sent.values()), 1),
        "latency_ms": _latencies(ledger, sent, windows),
    }
    outcome.expect(
        len(kills) == 2 and all(new for _, _, new, _ in kills),
        f"the worker killed twice, each time replaced ({len(kills)} kills, new workers "
        f"{[new for _, _, new, _ in kills]})",
    )
    outcome.expect(
        up - down >= OUTAGE_SECONDS,
        f"storage unreachable for {OUTAGE_SECONDS:g} s (it was {up - down:.1f} s)",
    )
    outcome.expect(len(kills) == 2 and down <= kills[1][1] <= up, "the 2nd kill in the outage")
    log = system.children[FUNCTION].log_path.read_text(errors="replace")
    _check_log(outcome, requests, log, [at for _, at, _, _ in kills], began, down, up)
    outcome.assert_met()


def _models(system: LocalSystem) -> tuple[ModelArtifact, int]:
    """The served model, and the version of a copy of it whose model.json was then altered
    (its bias changed, its sha256 kept, as an operator bypassing the registry would): every
    load of that version refuses it."""
    with contextlib.closing(system.storage_client()) as client:
        registry = system.registry(client)
        served = registry.load(system.model, system.served.version)
        marked = dataclasses.replace(served, lineage={**served.lineage, "soak_tampered": True})
        version = registry.register(marked).version
        blob = registry.bucket.get_blob(version_path(served.name, version))
        document = json.loads(blob.download_as_bytes())
        document["bias"] += 1.0
        blob.upload_from_string(
            json.dumps(document, indent=2, sort_keys=True).encode(),
            content_type="application/json",
            if_generation_match=blob.generation,
        )
    return served, version


def _publish_under_faults(
    system: LocalSystem, requests: list[StreamRequest], kills: list[Any], outage: list[float]
) -> dict[str, float]:
    """Publish the requests in WAVES waves WAVE_SECONDS apart, the faults between them at
    their times; the wall-clock time each request was sent."""

    def kill() -> None:
        pid, at = system.kill_worker(FUNCTION), time.time()
        deadline = time.monotonic() + RESPAWN_TIMEOUT
        while not (new := [p for p in system.worker_pids(FUNCTION) if p != pid]):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)  # gunicorn's master forks the new worker
        kills.append((pid, at, new[0] if new else None, time.time()))

    def storage_down() -> None:
        outage.append(time.time())
        system.stop_storage()

    def storage_up() -> None:
        system.start_storage()
        outage.append(time.time())

    def wave(index: int) -> None:
        futures = []
        for request in requests[index * size : (index + 1) * size]:
            sent[request.request_id] = time.time()
            futures.append(publisher.publish(topic, request.data, **request.attributes))
        for future in futures:
            future.result(timeout=60)

    size = -(-len(requests) // WAVES)
    sent: dict[str, float] = {}
    faults = [
        (FIRST_KILL_AT, kill),
        (OUTAGE_AT, storage_down),
        (OUTAGE_AT + SECOND_KILL_AFTER_OUTAGE_BEGAN, kill),
        (OUTAGE_AT + OUTAGE_SECONDS, storage_up),
    ]
    waves = [(n * WAVE_SECONDS, functools.partial(wave, n)) for n in range(WAVES)]
    start = time.monotonic()
    with system.cloud.pubsub_clients() as (publisher, _):
        topic = system.config.topic_path(names.PREDICTION_REQUESTS)
        # Each at its time, a fault before a wave due with it (pacing, not awaiting a state).
        for at, action in sorted(faults + waves, key=lambda due: due[0]):
            time.sleep(max(0.0, start + at - time.monotonic()))
            action()
    return sent


def _judge(outcome, requests: list[StreamRequest], sent, ledger: Collector, model) -> None:
    """How each request ended against docs/stream.md: one result (identical duplicates, in
    the documented shape, with the model's own predictions) or, intact, a dead letter."""
    ids = [request.request_id for request in requests]
    got = {request_id: _got(ledger, request_id) for request_id in ids}
    ended = Counter(got.values())
    both = [i for i in ids if i in ledger.results and i in ledger.dead_letters]
    dead = {i for i in ids if i in ledger.dead_letters}
    unservable = {r.request_id for r in requests if r.expected == DEAD_LETTER}
    unexpected = [
        f"{r.request_id} expected {r.expected}, got {got[r.request_id]}"
        for r in requests
        if got[r.request_id] != r.expected
    ]
    differing, malformed, altered = [], [], []
    for request in requests:
        results = ledger.results.get(request.request_id, [])
        if any(not _same(results[0], other) for other in results[1:]):
            differing.append(request.request_id)
        if results and not _well_formed(request, results[0], model):
            malformed.append(request.request_id)
        for letter in ledger.dead_letters.get(request.request_id, []):
            intact = request.attributes.items() <= letter.attributes.items()
            if letter.data != request.data or not intact:
                altered.append(request.request_id)
    outcome.figures |= {
        "published": len(sent),
        "poison_by_kind": dict(Counter(r.poison.kind for r in requests if r.poison)),
        "answered_ok": ended["ok"],
        "answered_malformed": ended[MALFORMED],
        "answered_error_by_code": {
            k.split()[1]: n for k, n in sorted(ended.items()) if k.startswith("error ")
        },
        "results_pulled": sum(len(found) for found in ledger.results.values()),
        "duplicate_results": sum(len(ledger.results[i]) - 1 for i in ids if i in ledger.results),
        "ids_with_duplicates": sum(1 for i in ids if len(ledger.results.get(i, [])) > 1),
        "dead_lettered": len(dead),
        "dead_letters_pulled": sum(len(found) for found in ledger.dead_letters.values()),
        "lost": ended[LOST],
        "answered_and_dead_lettered": len(both),
        "unexpected_outcomes": len(unexpected),
        "results_of_no_request_sent": len(set(ledger.results) - set(ids)),
        "differing_duplicates": len(differing),
        "malformed_results": len(malformed),
        "altered_dead_letters": len(altered),
    }
    lost = sorted(i for i, value in got.items() if value == LOST)
    others = sorted(dead - unservable)
    outcome.expect(
        dead == unservable,
        f"the dead-lettered ids exactly the unservable poison ({len(others)} others "
        f"dead-lettered {others[:EXAMPLES]}, {len(unservable - dead)} poison not dead-lettered)",
    )
    for found, target in (
        (lost, "no request id lost"),
        (both, "no id both answered and dead-lettered"),
        (unexpected, "every request ends as docs/stream.md says"),
        (differing, "a request's results identical"),
        (malformed, "every result as documented"),
        (altered, "every dead letter the request itself"),
    ):
        outcome.expect(not found, f"{target} ({len(found)} not: {sorted(found)[:EXAMPLES]})")
    outcome.expect(
        ledger.unattributed == 0, f"every message has a request_id ({ledger.unattributed} not)"
    )


def _got(ledger: Collector, request_id: str) -> str:
    """What the request ended with: "ok", "error <code>", MALFORMED, DEAD_LETTER or LOST."""
    results = ledger.results.get(request_id)
    if not results:
        return DEAD_LETTER if request_id in ledger.dead_letters else LOST
    result = results[0].result() or {}
    error = result.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return "ok" if result.get("status") == "ok" else MALFORMED if code is None else f"error {code}"


def _same(first: Received, other: Received) -> bool:
    """A redelivery's result: identical data (as JSON, field order aside) and attributes;
    only Pub/Sub's own message id and publish time may differ."""
    result = first.result()
    same_data = other.data == first.data if result is None else result == other.result()
    return first.attributes == other.attributes and same_data


def _well_formed(request: StreamRequest, received: Received, model: ModelArtifact) -> bool:
    result, attributes = received.result() or {}, received.attributes
    if not request.request_id == result.get("request_id") == attributes.get("request_id"):
        return False
    if attributes.get("status") != result.get("status"):
        return False
    if result.get("status") == "error":
        error = result.get("error")
        fields = isinstance(error, dict) and {"code", "status", "message"} <= set(error)
        return fields and attributes.get("model_version") == ""
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


def _check_log(outcome, requests, log: str, kills: list[float], began, down, up) -> None:
    """From predict_stream's log: one model load per worker, each after its start; the
    worker started inside the outage loaded its model only once storage was back."""
    lines = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
    loads = [_when(line) for line in lines if line.get("message") == "serving a new model version"]
    failed = [line for line in lines if str(line.get("message")).startswith("will be redelivered")]
    on_storage = [line for line in failed if "storage unavailable" in line["message"]]
    on_storage = [line for line in on_storage if down <= _when(line) <= up + 1]
    good = {r.request_id for r in requests if r.poison is None}
    outcome.figures |= {
        "model_loads_s": [round(load - began, 2) for load in loads],
        "redelivered_attempts": _split(failed, good),
        "failed_on_storage_during_outage": _split(on_storage, good),
    }
    outcome.expect(
        len(loads) == 1 + len(kills)
        and all(at < load for at, load in zip(kills, loads[1:], strict=True)),
        f"one model load per worker, each after its start ({len(loads)} loads for "
        f"{1 + len(kills)} workers)",
    )
    outcome.expect(
        bool(loads) and loads[-1] >= up,
        "the worker started inside the outage loaded its model only once storage was back",
    )


def _when(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(line["time"])).timestamp()


def _split(lines: list[dict[str, Any]], good: set[str]) -> dict[str, int]:
    of_good = sum(1 for line in lines if line.get("request_id") in good)
    return {"good": of_good, "poison": len(lines) - of_good}


def _latencies(
    ledger: Collector, sent: dict[str, float], windows: list[tuple[float, float]]
) -> Any:
    """Publish → first result (Pub/Sub's publish time), for requests whose wait overlapped a
    fault (a kill until the new worker, the outage) and for the others."""
    inside: list[float] = []
    outside: list[float] = []
    for request_id, results in ledger.results.items():
        if request_id in sent:
            start, answered = sent[request_id], results[0].published
            overlaps = any(start <= end and begin <= answered for begin, end in windows)
            (inside if overlaps else outside).append((answered - start) * 1000)
    return {"outside_faults": _summary(outside), "overlapping_faults": _summary(inside)}


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    p50, p99 = np.percentile(values, [50, 99])
    return {"count": len(values), "p50": round(float(p50), 1), "p99": round(float(p99), 1)}
