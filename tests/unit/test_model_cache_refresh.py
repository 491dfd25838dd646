"""The model cache's refresh when storage refuses or is slow: pure logic, an in-memory registry.

The registry here is this project's own interface (alias_generation, alias, load), kept in
memory so that a test can make it refuse (401/403) or hang; storage itself is exercised
against fake-gcs-server in tests/integration/test_model_cache.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from functions.errors import ModelUnavailable
from functions.model_cache import ModelCache
from infra import names
from model.artifact import ModelArtifact
from model.registry import Alias

MODEL = names.MODEL_NAME
WAIT = 10.0  # a bound on every wait, never a sleep


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class MemoryRegistry:
    """Versions and one alias in memory; `failure` is raised by every call while set, and
    `gate`, when set, holds alias_generation until it opens."""

    def __init__(self, versions: dict[int, ModelArtifact]) -> None:
        self.versions = versions
        self.served = min(versions)
        self.generation = 1
        self.failure: BaseException | None = None
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def promote(self, version: int) -> None:
        self.served = version
        self.generation += 1

    def alias_generation(self, model: str, alias: str) -> int | None:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT), "the test never opened the gate"
        self._fail()
        return self.generation

    def alias(self, model: str, alias: str) -> Alias | None:
        self._fail()
        return Alias(alias, self.served, self.generation, {"version": self.served})

    def load(self, model: str, version: int) -> ModelArtifact:
        self._fail()
        return self.versions[version]

    def _fail(self) -> None:
        if self.failure is not None:
            raise self.failure


@pytest.fixture
def registry(trained_artifact) -> MemoryRegistry:
    return MemoryRegistry(
        {1: trained_artifact.with_version(1), 2: trained_artifact.with_version(2)}
    )


def make_cache(registry: MemoryRegistry, clock: Clock) -> ModelCache:
    return ModelCache(registry, MODEL, "production", 30.0, 8, clock=clock)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "failure",
    [
        api_exceptions.Unauthorized("token expired"),
        api_exceptions.Forbidden("permission revoked"),
        api_exceptions.ServiceUnavailable("down"),
        auth_exceptions.RefreshError("cannot refresh credentials"),
        ConnectionRefusedError(),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_a_served_model_keeps_serving_through_any_storage_failure(registry, failure):
    clock = Clock()
    cache = make_cache(registry, clock)
    assert cache.get().version == 1
    registry.promote(2)
    registry.failure = failure
    clock.now += 31
    assert cache.get().version == 1
    registry.failure = None
    clock.now += 31
    assert cache.get().version == 2


@pytest.mark.parametrize(
    "failure",
    [api_exceptions.Forbidden("no access"), api_exceptions.ServiceUnavailable("down")],
    ids=lambda failure: type(failure).__name__,
)
def test_with_nothing_served_a_storage_failure_is_unavailable(registry, failure):
    registry.failure = failure
    with pytest.raises(ModelUnavailable):
        make_cache(registry, Clock()).get()


def test_a_bug_is_not_taken_for_a_storage_failure(registry):
    clock = Clock()
    cache = make_cache(registry, clock)
    cache.get()
    registry.failure = KeyError("a bug")
    clock.now += 31
    with pytest.raises(KeyError):
        cache.get()


def test_a_slow_refresh_blocks_no_other_request(registry):
    clock = Clock()
    cache = make_cache(registry, clock)
    assert cache.get().version == 1
    registry.promote(2)
    clock.now += 31
    registry.gate = threading.Event()
    registry.entered.clear()
    with ThreadPoolExecutor(max_workers=1) as pool:
        refreshing = pool.submit(cache.get)
        assert registry.entered.wait(WAIT), "the refresh never reached storage"
        # Storage hangs in the refresh; every other request is answered meanwhile.
        assert [cache.get().version for _ in range(100)] == [1] * 100
        assert not refreshing.done()
        registry.gate.set()
        assert refreshing.result(timeout=WAIT).version == 2
    assert cache.get().version == 2
