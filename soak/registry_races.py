"""Scenario "registry_races" (README "What it survives"), with predict_batch under load all
along: concurrent uploads through retrain, concurrent registrations and promotions, a
tampered model.json promoted, and a cold start while Cloud Storage is down.

Targets: 8 uploads at once → 8 versions, each trained on its own upload; 8 registrations →
8 distinct versions, each model.json written once with its own registrant's model;
concurrent promotions → the alias history is a chain of compare-and-swaps (none lost,
every loser told so); a tampered model.json → refused and logged while the served version
keeps serving; storage down at a cold start → 503 with Retry-After, then 200 from the same
process once storage is back.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from typing import Any

from functions.config import Settings
from infra import names
from model.registry import Registry
from soak.alias_history import AliasEntry, alias_history, broken_links, keep_every_generation
from soak.batch_traffic import Answer, BatchTraffic
from soak.cold_start_outage import Outage, cold_start_while_down
from soak.concurrent_uploads import Uploads, upload_at_once
from soak.outcome import Outcome
from soak.registry_concurrency import (
    Promotions,
    Registrations,
    promote_at_once,
    register_at_once,
)
from soak.system import running
from soak.tampering import Tampering, tamper

REFRESH_SECONDS = 1.0
SLACK_SECONDS = 1.0  # the request in flight at a refresh, on a loaded machine
SETTLE_SECONDS = 3.0  # more traffic after the refresh interval, to see it hold
STORAGE_SLACK_SECONDS = 2.0  # beyond the storage timeout, for a 503 on a loaded machine
REGISTRANTS = 8
PROMOTERS = 6
ROUNDS = 5
SERVING_WORKERS = 2
COLD_WORKERS = 3
DOWN_SECONDS = 25.0  # two storage timeouts and more: every waiting worker gets a 503


def run() -> Outcome:
    outcome = Outcome()
    env = {"MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS)}
    with (
        running("registry_races", env=env, only=("predict_batch", "retrain")) as system,
        contextlib.closing(system.cloud.storage_client()) as client,
    ):
        keep_every_generation(client, system.cloud.config.bucket)
        registry = Registry(client, system.cloud.config.bucket)
        model, alias = system.model_name, names.SERVING_ALIAS
        seed = registry.load(model, system.seeded.version)
        with BatchTraffic(system.url("predict_batch"), SERVING_WORKERS) as traffic:
            traffic.wait_for(lambda a: a.served, 60, "from the first version")
            uploads = upload_at_once(system, REGISTRANTS)
            upload_history = alias_history(client, system.cloud.config.bucket, model, alias)
            registrations = register_at_once(system, seed, REGISTRANTS)
            targets = [seed.version, *sorted(registrations.versions.values())]
            promotions = promote_at_once(system, model, alias, targets, PROMOTERS, ROUNDS)
            served = _settled(traffic, promotions)
            tampering = tamper(system, registry, served)
            traffic.wait_until(
                tampering.promoted_at + REFRESH_SECONDS + SLACK_SECONDS + SETTLE_SECONDS
            )
            tamper_window = (tampering.promoted_at, time.time())
            registry.rollback(model, alias)  # back to the served version, for the cold start
            outage = cold_start_while_down(system, DOWN_SECONDS, COLD_WORKERS)
    answers = traffic.answers
    after_tamper = [a for a in answers if tamper_window[0] <= a.sent < tamper_window[1]]
    outcome.figures = {
        "uploads": _upload_figures(outcome, uploads, upload_history),
        "registrations": _registration_figures(outcome, registrations, seed.version),
        "promotions": _promotion_figures(outcome, promotions),
        "tampering": _tamper_figures(outcome, tampering, after_tamper),
        "storage_down_at_cold_start": _outage_figures(
            outcome, outage, Settings.from_env(system.env).storage_timeout_seconds
        ),
        "serving_process": {
            "requests": len(answers),
            "failed": sum(1 for a in answers if not a.served),
            "per_version": _per_version(answers),
            # The model cache refreshes in a background thread, so no request waits for
            # storage, not even while it is stopped for the cold start: the slowest answer.
            "max_seconds": round(max((a.received - a.sent for a in answers), default=0), 2),
        },
    }
    outcome.expect(
        all(a.served for a in answers),
        "the serving process answered 200 throughout (races, tampering, storage down)",
    )
    return outcome


def _settled(traffic: BatchTraffic, promotions: Promotions) -> int:
    """The version the race left the alias at, once the serving process serves it."""
    last = promotions.history[-1] if promotions.history else None
    if last is None:
        raise RuntimeError("the promotion race wrote nothing")
    traffic.wait_for(
        lambda a: a.version == last.version and a.sent > last.created + REFRESH_SECONDS,
        REFRESH_SECONDS + 30,
        f"from version {last.version}, where the race left the alias",
    )
    return last.version


def _upload_figures(outcome: Outcome, found: Uploads, history: list[AliasEntry]) -> dict[str, Any]:
    answered = [d for d in found.datasets if found.events.get(d, {}).get("version")]
    outcome.expect(
        len(answered) == len(found.datasets) and len(set(found.versions)) == len(answered),
        f"{REGISTRANTS} datasets uploaded at once → {REGISTRANTS} events, each with a version "
        f"of its own ({len(answered)} with a version, versions {found.versions})",
    )
    mixed = [
        event.get("version")
        for dataset, event in found.events.items()
        if found.trained_on.get(event.get("version") or 0) != dataset
    ]
    outcome.expect(
        not mixed, f"each version's report names the upload it was trained on (not: {mixed})"
    )
    breaks = broken_links(history)
    outcome.expect(
        not breaks,
        f"the alias history of the retrain race is a chain ({len(breaks)} breaks: {breaks[:3]})",
    )
    return {
        "uploads": len(found.datasets),
        "events": dict(Counter(e.get("event") for e in found.events.values())),
        "versions": found.versions,
        "alias_history": [entry.version for entry in history],
        "alias_chain_breaks": len(breaks),
        "seconds_to_last_event": round(found.seconds, 2),
    }


def _registration_figures(outcome: Outcome, found: Registrations, seed: int) -> dict[str, Any]:
    versions = sorted(found.versions.values())
    outcome.expect(
        len(set(versions)) == REGISTRANTS and min(versions) > seed,
        f"{REGISTRANTS} concurrent registrations → {REGISTRANTS} distinct new versions "
        f"(got {versions})",
    )
    overwritten = [v for r, v in found.versions.items() if found.stored_by.get(v) != r]
    rewritten = [v for v, n in found.generations.items() if n != 1]
    outcome.expect(
        not overwritten and not rewritten,
        "no version overwritten: each model.json written once, by the registrant that got it "
        f"(versions holding another's model: {overwritten}; written more than once: {rewritten})",
    )
    return {
        "registrants": REGISTRANTS,
        "versions_created": len(set(versions)),
        "versions": versions,
        "overwritten": len(overwritten) + len(rewritten),
        "seconds": round(found.seconds, 2),
    }


def _promotion_figures(outcome: Outcome, found: Promotions) -> dict[str, Any]:
    outcome.expect(
        not found.errors and len(found.wins) + found.conflicts == found.attempts,
        f"every promotion won or got a conflict ({len(found.errors)} other errors: "
        f"{found.errors[:3]})",
    )
    outcome.expect(found.conflicts > 0, "the promotions did race (at least one conflict)")
    outcome.expect(
        len(found.history) == len(found.wins) and not found.chain_breaks,
        f"the alias history is a chain of compare-and-swaps, one entry per win "
        f"({len(found.history)} entries, {len(found.wins)} wins; "
        f"breaks: {found.chain_breaks[:3]})",
    )
    return {
        "promoters": PROMOTERS,
        "rounds": ROUNDS,
        "attempts": found.attempts,
        "wins": len(found.wins),
        "conflicts": found.conflicts,
        "other_errors": len(found.errors),
        "alias_history_length": len(found.history),
        "chain_breaks": len(found.chain_breaks),
        "seconds": round(found.seconds, 2),
    }


def _tamper_figures(outcome: Outcome, found: Tampering, after: list[Answer]) -> dict[str, Any]:
    kept = [a for a in after if a.served and a.version == found.served]
    outcome.expect(
        bool(after) and len(kept) == len(after),
        f"after the tampered version {found.version} was promoted, version {found.served} "
        f"kept serving ({len(kept)} of {len(after)} answers 200 from it)",
    )
    outcome.expect(found.log_line is not None, "predict_batch logged the refusal")
    return {
        "tampered_version": found.version,
        "served_version": found.served,
        "answers_after_promotion": len(after),
        "answers_from_served_version": len(kept),
        "refusal_logged": found.log_line is not None,
        "log_line": found.log_line,
    }


def _outage_figures(outcome: Outcome, found: Outage, storage_timeout: float) -> dict[str, Any]:
    during = found.during
    retry_later = [a for a in during if a.status == 503 and a.retry_after]
    outcome.expect(
        bool(during) and len(retry_later) == len(during),
        f"storage down at a cold start → 503 with Retry-After ({len(retry_later)} of "
        f"{len(during)} answers; statuses {dict(Counter(a.status for a in during))})",
    )
    # A request may wait for the storage call under way, not for one per request ahead.
    bound = storage_timeout + STORAGE_SLACK_SECONDS
    sent_while_down = [a for a in found.answers if a.sent < found.resumed_at]
    slow = [a for a in sent_while_down if a.received - a.sent > bound]
    outcome.expect(
        not slow,
        f"every request sent while storage was down answered within the storage timeout "
        f"+ {STORAGE_SLACK_SECONDS:g} s ({bound:g} s; {len(slow)} slower, up to "
        f"{max((a.received - a.sent for a in slow), default=0):.1f} s)",
    )
    after = found.after_recovery
    recovered = found.recovered_at is not None and all(a.served for a in after)
    same = (
        found.alive_after
        and found.pid_before == found.pid_after
        and found.workers_before == found.workers_after
    )
    outcome.expect(
        recovered and same,
        "after storage came back the same process served 200 without a restart "
        f"(recovered: {found.recovered_at is not None}, {len(after)} answers after, "
        f"same process and workers: {same})",
    )
    latencies = [a.received - a.sent for a in sent_while_down]
    return {
        "down_seconds": DOWN_SECONDS,
        "answers_while_down": len(during),
        "answers_503_with_retry_after": len(retry_later),
        "retry_after": sorted({a.retry_after for a in retry_later if a.retry_after}),
        "storage_timeout_seconds": storage_timeout,
        "max_seconds_of_a_request_sent_while_down": round(max(latencies), 2) if latencies else None,
        "recovery_seconds": (
            round(found.recovered_at - found.resumed_at, 2) if found.recovered_at else None
        ),
        "answers_after_recovery": len(after),
        "failed_after_recovery": sum(1 for a in after if not a.served),
        "restarted": not same,
    }


def _per_version(answers: list[Answer]) -> dict[str, int]:
    counts = Counter(a.version for a in answers if a.served)
    return {str(version): n for version, n in sorted(counts.items())}
