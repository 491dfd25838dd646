"""One alert per cooldown on the storage emulator, with runs racing for it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from model.alert_cooldown import claim, release

pytestmark = pytest.mark.emulators
PATH = "monitoring/m/performance/cooldown/1-rmse.json"
NOW = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
COOLDOWN = timedelta(hours=24)


def test_of_runs_racing_for_one_alert_exactly_one_claims_it(registry):
    runs = 8
    start = threading.Barrier(runs)

    def race(run: int) -> bool:
        start.wait(timeout=10)
        return claim(registry, PATH, NOW, COOLDOWN, {"run": run}) is not None

    with ThreadPoolExecutor(runs) as pool:
        won = list(pool.map(race, range(runs)))

    assert won.count(True) == 1
    document, _ = registry.document(PATH)
    assert document["run"] == won.index(True)
    assert document["alerted_at"] == NOW.isoformat()


def test_the_next_alert_comes_once_the_cooldown_has_passed(registry):
    assert claim(registry, PATH, NOW, COOLDOWN, {}) is not None
    assert claim(registry, PATH, NOW + COOLDOWN - timedelta(seconds=1), COOLDOWN, {}) is None
    assert claim(registry, PATH, NOW + COOLDOWN, COOLDOWN, {}) is not None


def test_a_released_claim_lets_the_next_run_alert(registry):
    held = claim(registry, PATH, NOW, COOLDOWN, {})
    assert held is not None
    release(registry, held)
    assert registry.document(PATH) == (None, 0)
    assert claim(registry, PATH, NOW, COOLDOWN, {}) is not None
