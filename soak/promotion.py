"""Scenario "promotion" (README "What it survives"): sustained HTTP load on predict_batch
while continuous training promotes a new version and `mlctl rollback` moves the alias back.

Targets: no failed request, every answer from exactly one version the alias pointed at, and
each worker's last answer from the old version within MODEL_REFRESH_SECONDS (plus a slack
for the request in flight) of the alias write, read from the alias' own history.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import names
from infra.local.serving import REPOSITORY_ROOT
from soak.alias_history import AliasEntry, alias_history, keep_every_generation
from soak.batch_traffic import Answer, BatchTraffic
from soak.outcome import Outcome
from soak.system import System, running
from soak.version_switch import Switch, changes, strays, switches
from tests.datasets import stronger

REFRESH_SECONDS = 2.0
# The request in flight when the refresh lands, and a scheduler hiccup on a loaded machine.
SLACK_SECONDS = 1.0
WORKERS = 4
WARM_SECONDS = 5.0
# After each alias write: the refresh interval, the slack, then this much more traffic.
SETTLE_SECONDS = 5.0
EVENT_TIMEOUT = 150.0  # retrain validates, trains, gates, plots, registers, promotes
CLI_TIMEOUT = 60.0
UPLOAD_NAME = "soak-promotion.csv"


@dataclass(frozen=True)
class Promotion:
    uploaded: float
    event: dict[str, Any]
    event_received: float


def run() -> Outcome:
    outcome = Outcome()
    env = {"MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS)}
    with (
        running("promotion", env=env, only=("predict_batch", "retrain")) as system,
        contextlib.closing(system.cloud.storage_client()) as client,
    ):
        keep_every_generation(client, system.cloud.config.bucket)
        first = system.seeded.version
        with BatchTraffic(system.url("predict_batch"), WORKERS) as traffic:
            traffic.wait_for(lambda a: a.version == first, 60, f"from version {first}")
            traffic.wait_until(time.time() + WARM_SECONDS)
            promotion = _promote_by_upload(system)
            promoted_at = _alias_written(system)
            traffic.wait_until(promoted_at + REFRESH_SECONDS + SLACK_SECONDS + SETTLE_SECONDS)
            rollback_began = time.time()
            rolled_back = _mlctl(system, "rollback")
            rollback_seconds = time.time() - rollback_began
            rolled_back_at = _alias_written(system)
            traffic.wait_until(rolled_back_at + REFRESH_SECONDS + SLACK_SECONDS + SETTLE_SECONDS)
        history = alias_history(
            client, system.cloud.config.bucket, system.model_name, names.SERVING_ALIAS
        )
    answers = traffic.answers
    moves = changes(history)
    seen = switches(answers, moves, traffic.workers)
    stray = strays(answers, moves)
    failed = [a for a in answers if a.status != 200]
    malformed = [a for a in answers if a.status == 200 and a.version is None]
    versions = Counter(a.version for a in answers if a.served)
    seconds = traffic.stopped - traffic.started
    event = promotion.event
    outcome.figures = {
        "requests": len(answers),
        "failed": len(failed),
        "statuses": dict(Counter(str(a.status) for a in answers)),
        "malformed_successes": len(malformed),
        "per_version": {str(v): n for v, n in sorted(versions.items())},
        "requests_per_second": round(len(answers) / seconds, 1) if seconds else None,
        "load_seconds": round(seconds, 1),
        "workers": traffic.workers,
        "refresh_seconds": REFRESH_SECONDS,
        "slack_seconds": SLACK_SECONDS,
        "event": event.get("event"),
        "promoted_version": event.get("version"),
        "upload_to_alias_seconds": round(promoted_at - promotion.uploaded, 2),
        "upload_to_event_seconds": round(promotion.event_received - promotion.uploaded, 2),
        "alias_promoted_at_seconds": round(promoted_at - traffic.started, 2),
        "alias_rolled_back_at_seconds": round(rolled_back_at - traffic.started, 2),
        "rollback_cli_seconds": round(rollback_seconds, 2),
        "rollback_to_version": rolled_back.get("version"),
        "alias_history": [entry.version for entry in history],
        "switches": [_switch_figures(per_worker) for per_worker in _by_change(seen)],
        "answers_from_other_versions": len(stray),
    }
    _expect(outcome, event, history, first, failed, malformed, stray, seen)
    return outcome


def _expect(
    outcome: Outcome,
    event: dict[str, Any],
    history: list[AliasEntry],
    first: int,
    failed: list[Answer],
    malformed: list[Answer],
    stray: list[Answer],
    seen: list[Switch],
) -> None:
    promoted = event.get("version")
    outcome.expect(
        event.get("event") == "promoted" and promoted == event.get("production_version"),
        f"the upload was promoted (model event: {event.get('event')}, {event.get('reasons')})",
    )
    outcome.expect(
        [entry.version for entry in history] == [first, promoted, first],
        f"the alias went {first} → {promoted} → {first} "
        f"(history: {[entry.version for entry in history]})",
    )
    outcome.expect(not failed, f"0 failed requests ({len(failed)} answered other than 200)")
    outcome.expect(
        not malformed and not stray,
        f"every answer from exactly one version the alias pointed at ({len(malformed)} "
        f"without one version, {len(stray)} from another version)",
    )
    limit = REFRESH_SECONDS + SLACK_SECONDS
    late = [s for s in seen if s.last_old is not None and s.last_old > limit]
    outcome.expect(
        not late,
        f"each worker's last answer from the old version within {limit:g} s of the alias "
        f"write ({len(late)} later: "
        f"{[round(s.last_old or 0, 2) for s in late]})",
    )
    unseen = [s for s in seen if s.first_new is None]
    outcome.expect(not unseen, f"every worker saw every switch ({len(unseen)} did not)")
    back = sum(s.back_to_old for s in seen)
    outcome.expect(back == 0, f"no worker went back to the old version ({back} answers did)")


def _promote_by_upload(system: System) -> Promotion:
    """Upload a dataset with a much stronger relation through `mlctl upload`; its event."""
    with tempfile.TemporaryDirectory(prefix="soak-promotion-") as directory:
        path = Path(directory) / UPLOAD_NAME
        path.write_bytes(stronger())
        uploaded = time.time()
        _mlctl(system, "upload", str(path))
    events = system.model_events(
        1, EVENT_TIMEOUT, keep=lambda event: UPLOAD_NAME in event.get("dataset", "")
    )
    if not events:
        raise TimeoutError(f"no model event for {UPLOAD_NAME} within {EVENT_TIMEOUT:g} s")
    return Promotion(uploaded, events[0], time.time())


def _alias_written(system: System) -> float:
    """When the serving alias was last written, by the emulator's clock (this machine's)."""
    client = system.cloud.storage_client()
    try:
        history = alias_history(
            client, system.cloud.config.bucket, system.model_name, names.SERVING_ALIAS
        )
    finally:
        client.close()
    return history[-1].created


def _mlctl(system: System, *arguments: str) -> dict[str, Any]:
    """Run the real command line against the local cloud; its JSON answer."""
    env = {**os.environ, **system.cloud.env(), "MODEL_NAME": system.model_name}
    done = subprocess.run(
        [sys.executable, "-m", "mlctl", *arguments],
        cwd=REPOSITORY_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mlctl {' '.join(arguments)} failed: {done.stderr.strip()[-500:]}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _by_change(seen: list[Switch]) -> list[list[Switch]]:
    grouped: dict[float, list[Switch]] = {}
    for switch in seen:
        grouped.setdefault(switch.change.at, []).append(switch)
    return list(grouped.values())


def _switch_figures(seen: list[Switch]) -> dict[str, Any]:
    change = seen[0].change
    last_old = [s.last_old for s in seen if s.last_old is not None]
    first_new = [s.first_new for s in seen if s.first_new is not None]
    return {
        "from": change.old,
        "to": change.new,
        "last_old_answer_seconds_per_worker": [
            None if s.last_old is None else round(s.last_old, 3) for s in seen
        ],
        "max_last_old_answer_seconds": round(max(last_old), 3) if last_old else None,
        "first_new_answer_seconds": round(min(first_new), 3) if first_new else None,
    }
