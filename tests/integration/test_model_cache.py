"""The model cache against fake-gcs-server, with a clock the test moves by hand."""

from __future__ import annotations

import contextlib
import json

import pytest

from functions.platform.errors import ModelUnavailable, NotFound
from functions.serving.model_cache import ModelCache
from infra.names import MODEL_NAME as MODEL
from model.registry import Registry, version_path

pytestmark = pytest.mark.emulators
REFRESH = 30.0
WAIT = 10.0  # a bound on every wait


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make_cache(registry: Registry, clock: ManualClock, max_pinned: int = 8) -> ModelCache:
    return ModelCache(registry, MODEL, "production", REFRESH, max_pinned, clock=clock)


def served_around_refresh(cache: ModelCache) -> tuple[int, int]:
    """The version a request that finds the alias due gets (it starts the refresh and keeps
    the served version), and the one a request gets once that refresh is done."""
    during = cache.get().version
    assert cache.refreshed(WAIT), "the refresh never ended"
    return during, cache.get().version


def register_versions(registry: Registry, artifact, count: int) -> None:
    for _ in range(count):
        registry.register(artifact, {})


def test_no_promoted_model_is_unavailable_not_a_crash(registry, clock):
    with pytest.raises(ModelUnavailable, match="promoted"):
        make_cache(registry, clock).get()


def test_a_promotion_is_served_within_the_refresh_period(registry, clock, trained_artifact):
    register_versions(registry, trained_artifact, 2)
    registry.promote(MODEL, 1)
    cache = make_cache(registry, clock)
    assert cache.get().version == 1
    registry.promote(MODEL, 2)
    clock.advance(REFRESH - 1)
    assert cache.get().version == 1  # still within the period: no storage read
    assert cache.refreshed(0.0)  # and no refresh started
    clock.advance(1)
    assert served_around_refresh(cache) == (1, 2)
    registry.rollback(MODEL)
    clock.advance(REFRESH)
    assert served_around_refresh(cache) == (2, 1)


def test_a_corrupt_new_version_is_refused_and_the_old_keeps_serving(
    registry, clock, trained_artifact, gcs, bucket, capsys
):
    register_versions(registry, trained_artifact, 2)
    registry.promote(MODEL, 1)
    cache = make_cache(registry, clock)
    assert cache.get().version == 1
    blob = gcs.bucket(bucket).blob(version_path(MODEL, 2))
    document = json.loads(blob.download_as_bytes())
    document["weights"][0] = 0.0
    blob.upload_from_string(json.dumps(document))
    registry.promote(MODEL, 2)
    clock.advance(REFRESH)
    assert served_around_refresh(cache) == (1, 1)
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(
        entry["severity"] == "ERROR"
        and "sha256" in entry["message"]
        and "keeps serving" in entry["message"]
        for entry in logged
    )
    with pytest.raises(ModelUnavailable, match="version 2 cannot be loaded"):
        cache.get(version=2)


def test_named_aliases_and_pinned_versions(registry, clock, trained_artifact):
    register_versions(registry, trained_artifact, 3)
    registry.promote(MODEL, 3)
    registry.promote(MODEL, 2, alias="staging")
    cache = make_cache(registry, clock)
    assert cache.get(alias="staging").version == 2
    assert cache.get(version=1).version == 1
    with pytest.raises(NotFound, match="no alias 'canary'"):
        cache.get(alias="canary")
    with pytest.raises(NotFound, match="no version 9"):
        cache.get(version=9)


def test_pinned_versions_are_bounded(registry, clock, trained_artifact, gcs, bucket):
    register_versions(registry, trained_artifact, 3)
    cache = make_cache(registry, clock, max_pinned=2)
    assert cache.get(version=1).version == 1
    # Damage version 1 in storage: while cached it serves, once evicted it is re-read.
    gcs.bucket(bucket).blob(version_path(MODEL, 1)).upload_from_string(b"{}")
    assert cache.get(version=1).version == 1
    cache.get(version=2)
    cache.get(version=3)  # evicts version 1, the least recently used
    with pytest.raises(ModelUnavailable):
        cache.get(version=1)


def test_storage_outage_keeps_the_served_model(start_system, clock, trained_artifact, capsys):
    system = start_system(functions=())  # storage of its own, which the test takes down
    with contextlib.closing(system.storage_client()) as client:
        registry = Registry(client, system.config.bucket, timeout=1.0)
        register_versions(registry, trained_artifact, 1)  # version 2; the first model serves
        cache = make_cache(registry, clock)
        assert cache.get().version == 1
        system.stop_storage()
        clock.advance(REFRESH)
        assert served_around_refresh(cache) == (1, 1)
        assert "model storage unavailable" in capsys.readouterr().out
        with pytest.raises(ModelUnavailable, match="storage unavailable"):
            cache.get(version=2)
