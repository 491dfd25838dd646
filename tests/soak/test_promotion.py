"""Scenario "promotion": four keep-alive clients post to predict_batch for the whole
scenario. Meanwhile a stronger dataset uploaded with `mlctl upload` is promoted by retrain,
then `mlctl rollback` moves the alias back. Targets: no failed request; every answer from
exactly one version the alias held; each client's last answer from the old version within
the refresh interval plus 1 s of the alias write, read from the alias' own history (the
bucket keeps every generation, as the Terraform bucket does).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections import Counter
from typing import Any

import pytest

from infra import names
from infra.local.system import LocalSystem
from model.registry import alias_path
from tests.datasets import stronger
from tests.soak.mlctl import mlctl
from tests.traffic import Answer, Traffic

pytestmark = pytest.mark.soak
REFRESH_SECONDS = 2.0
# The request in flight when the refresh lands, and a scheduler hiccup on a loaded machine.
SLACK_SECONDS = 1.0
WORKERS = 4
WARM_SECONDS = 5.0
SETTLE_SECONDS = 5.0  # traffic after each alias write, beyond the refresh and the slack
EVENT_TIMEOUT = 150.0  # retrain validates, trains, gates, plots, registers, promotes
UPLOAD_NAME = "soak-promotion.csv"


def test_promotion(start_system, sampled, outcome, tmp_path):
    env = {"MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS)}
    system = start_system(["predict_batch", "retrain"], env=env)
    sampled(system)
    with contextlib.closing(system.storage_client()) as client:
        bucket = client.get_bucket(system.config.bucket)
        bucket.versioning_enabled = True  # every generation of the alias stays readable
        bucket.patch()
    first = system.served.version
    upload = tmp_path / UPLOAD_NAME
    upload.write_bytes(stronger())
    with Traffic(system.url("predict_batch"), WORKERS) as traffic:
        deadline = time.monotonic() + 60
        while not any(a.version == first for a in traffic.answers):
            assert time.monotonic() < deadline, f"no answer from version {first} in 60 s"
            time.sleep(0.05)
        traffic.wait_until(time.time() + WARM_SECONDS)
        uploaded = time.time()
        mlctl(system, "upload", str(upload))
        events = system.pull(
            names.MODEL_EVENTS_SUB,
            1,
            EVENT_TIMEOUT,
            keep=lambda m: UPLOAD_NAME in json.loads(m.data).get("dataset", ""),
        )
        assert events, f"no model event for {UPLOAD_NAME} within {EVENT_TIMEOUT:g} s"
        event, event_received = json.loads(events[0].data), time.time()
        promoted_at = _alias_history(system)[-1]["created"]
        traffic.wait_until(promoted_at + REFRESH_SECONDS + SLACK_SECONDS + SETTLE_SECONDS)
        rollback_began = time.time()
        rolled_back = mlctl(system, "rollback")
        rollback_seconds = time.time() - rollback_began
        rolled_back_at = _alias_history(system)[-1]["created"]
        traffic.wait_until(rolled_back_at + REFRESH_SECONDS + SLACK_SECONDS + SETTLE_SECONDS)
    history = _alias_history(system)
    answers = traffic.answers
    changes = [(b["created"], a["version"], b["version"]) for a, b in itertools.pairwise(history)]
    switches = _switches(answers, changes)
    stray = [a for a in answers if a.served and changes and _stray(a, changes)]
    failed = [a for a in answers if a.status != 200]
    malformed = [a for a in answers if a.status == 200 and a.version is None]
    seconds = traffic.stopped - traffic.started
    versions = Counter(a.version for a in answers if a.served)
    outcome.figures = {
        "requests": len(answers),
        "failed": len(failed),
        "statuses": dict(Counter(str(a.status) for a in answers)),
        "malformed_successes": len(malformed),
        "per_version": {str(v): n for v, n in sorted(versions.items())},
        "requests_per_second": round(len(answers) / seconds, 1) if seconds else None,
        "load_seconds": round(seconds, 1),
        "workers": WORKERS,
        "refresh_seconds": REFRESH_SECONDS,
        "slack_seconds": SLACK_SECONDS,
        "event": event.get("event"),
        "promoted_version": event.get("version"),
        "upload_to_alias_seconds": round(promoted_at - uploaded, 2),
        "upload_to_event_seconds": round(event_received - uploaded, 2),
        "alias_promoted_at_seconds": round(promoted_at - traffic.started, 2),
        "alias_rolled_back_at_seconds": round(rolled_back_at - traffic.started, 2),
        "rollback_cli_seconds": round(rollback_seconds, 2),
        "rollback_to_version": rolled_back.get("version"),
        "alias_history": [entry["version"] for entry in history],
        "switches": switches,
        "answers_from_other_versions": len(stray),
    }
    promoted = event.get("version")
    outcome.expect(
        event.get("event") == "promoted" and promoted == event.get("production_version"),
        f"the upload was promoted (model event: {event.get('event')}, {event.get('reasons')})",
    )
    versions = [entry["version"] for entry in history]
    outcome.expect(
        versions == [first, promoted, first],
        f"the alias went {first} → {promoted} → {first} (history: {versions})",
    )
    outcome.expect(not failed, f"0 failed requests ({len(failed)} answered other than 200)")
    outcome.expect(
        not malformed and not stray,
        f"every answer from exactly one version the alias pointed at ({len(malformed)} "
        f"without one version, {len(stray)} from another version)",
    )
    limit = REFRESH_SECONDS + SLACK_SECONDS
    lasts = [_known(s["last_old_answer_seconds_per_worker"]) for s in switches]
    late = [t for times in lasts for t in times if t > limit]
    outcome.expect(
        not late,
        f"each worker's last answer from the old version within {limit:g} s of the alias "
        f"write ({len(late)} later: {late})",
    )
    unseen = sum(s["workers_not_seeing_it"] for s in switches)
    outcome.expect(not unseen, f"every worker saw every switch ({unseen} did not)")
    back = sum(s["answers_back_to_old"] for s in switches)
    outcome.expect(back == 0, f"no worker went back to the old version ({back} answers did)")
    outcome.assert_met()


def _alias_history(system: LocalSystem) -> list[dict[str, Any]]:
    """Every document the serving alias held, oldest first, with when it was written (the
    emulator's clock: this machine's)."""
    name = alias_path(system.model, names.SERVING_ALIAS)
    with contextlib.closing(system.storage_client()) as client:
        # fake-gcs-server reads the parameter only spelled "true"; the client sends "True".
        blobs = client.list_blobs(system.config.bucket, prefix=name, versions="true")
        found = sorted((b for b in blobs if b.name == name), key=lambda b: int(b.generation))
        return [
            {
                **json.loads(
                    client.bucket(system.config.bucket)
                    .blob(name, generation=b.generation)
                    .download_as_bytes()
                ),
                "created": b.time_created.timestamp(),
            }
            for b in found
        ]


def _switches(answers: list[Answer], changes: list[tuple[float, int, int]]) -> list[Any]:
    """Per change of the alias, each worker's answers until the next change: when the old
    version last answered and the new one first, in seconds after the alias write; how many
    answers came from the old version after one from the new."""
    figures = []
    for index, (at, old, new) in enumerate(changes):
        until = changes[index + 1][0] if index + 1 < len(changes) else float("inf")
        last_old, first_new, back = [], [], 0
        for worker in range(WORKERS):
            window = [a for a in answers if a.worker == worker and a.served]
            window = [a for a in window if at <= a.received < until]
            olds = [a.received - at for a in window if a.version == old]
            news = [a.received - at for a in window if a.version == new]
            last_old.append(round(max(olds), 3) if olds else None)
            first_new.append(round(min(news), 3) if news else None)
            back += sum(1 for t in olds if news and t > min(news))
        figures.append(
            {
                "from": old,
                "to": new,
                "last_old_answer_seconds_per_worker": last_old,
                "max_last_old_answer_seconds": max(_known(last_old), default=None),
                "first_new_answer_seconds": min(_known(first_new), default=None),
                "workers_not_seeing_it": first_new.count(None),
                "answers_back_to_old": back,
            }
        )
    return figures


def _known(values: list[float | None]) -> list[float]:
    return [value for value in values if value is not None]


def _stray(answer: Answer, changes: list[tuple[float, int, int]]) -> bool:
    """Whether a served answer names a version the alias did not point at around its time:
    before the first change only its old version; between changes, the old or the new one."""
    current = [change for change in changes if change[0] <= answer.received]
    return answer.version not in (set(current[-1][1:]) if current else {changes[0][1]})
