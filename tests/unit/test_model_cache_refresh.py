"""The model cache's refresh when storage refuses or is slow: pure logic, an in-memory registry.

The registry here is this project's own interface (alias_generation, alias, load), kept in
memory so that a test can make it refuse (401/403) or hang; storage itself is exercised
against fake-gcs-server in tests/integration/test_model_cache.py.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from functions.platform.errors import ModelUnavailable
from functions.serving.model_cache import ModelCache
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
        self.gated_alias: str | None = None  # None: the gate holds every alias
        self.entered = threading.Event()

    def promote(self, version: int) -> None:
        self.served = version
        self.generation += 1

    def alias_generation(self, model: str, alias: str) -> int | None:
        self.entered.set()
        if self.gate is not None and self.gated_alias in (None, alias):
            assert self.gate.wait(WAIT), "the test never opened the gate"
        self._fail()
        return self.generation

    def alias(self, model: str, alias: str) -> Alias | None:
        self._fail()
        return Alias(alias, self.served, self.generation, {"version": self.served})

    def load(self, model: str, version: int) -> ModelArtifact:
        self._fail()
        return self.versions[version]

    def document_generation(self, path: str) -> int:
        self._fail()
        return 0  # no rollout (tests/integration/test_rollout.py has them)

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


def served_around_refresh(cache: ModelCache) -> tuple[int, int]:
    """The version a request that finds the alias due gets (it starts the refresh and keeps
    the served version), and the one a request gets once that refresh is done."""
    during = cache.get().version
    assert cache.refreshed(WAIT), "the refresh never ended"
    return during, cache.get().version


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
    assert served_around_refresh(cache) == (1, 1)
    registry.failure = None
    clock.now += 31
    assert served_around_refresh(cache) == (1, 2)


@pytest.mark.parametrize(
    "failure",
    [api_exceptions.Forbidden("no access"), api_exceptions.ServiceUnavailable("down")],
    ids=lambda failure: type(failure).__name__,
)
def test_with_nothing_served_a_storage_failure_is_unavailable(registry, failure):
    registry.failure = failure
    with pytest.raises(ModelUnavailable):
        make_cache(registry, Clock()).get()


def test_a_bug_in_a_refresh_is_logged_with_its_traceback_and_serving_goes_on(registry, capsys):
    clock = Clock()
    cache = make_cache(registry, clock)
    cache.get()
    registry.failure = KeyError("a bug")
    clock.now += 31
    assert served_around_refresh(cache) == (1, 1)
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (bug,) = [entry for entry in logged if entry["severity"] == "ERROR"]
    assert bug["message"].startswith("model refresh failed: KeyError")
    assert "KeyError: 'a bug'" in bug["stack_trace"]


def test_a_slow_refresh_blocks_no_request(registry):
    clock = Clock()
    cache = make_cache(registry, clock)
    assert cache.get().version == 1
    registry.promote(2)
    clock.now += 31
    registry.gate = threading.Event()
    registry.entered.clear()
    # The request that finds the alias due is answered at once, like all after it, while
    # storage hangs in the refresh it started.
    assert cache.get().version == 1
    assert registry.entered.wait(WAIT), "the refresh never reached storage"
    assert [cache.get().version for _ in range(100)] == [1] * 100
    assert not cache.refreshed(0.0)
    registry.gate.set()
    assert cache.refreshed(WAIT)
    assert cache.get().version == 2


def test_a_hung_refresh_of_one_alias_holds_up_no_other(registry):
    clock = Clock()
    cache = make_cache(registry, clock)
    assert cache.get().version == 1
    clock.now += 31
    registry.gate, registry.gated_alias = threading.Event(), "production"
    registry.entered.clear()
    assert cache.get().version == 1  # starts the refresh, which hangs in storage
    assert registry.entered.wait(WAIT), "the refresh never reached storage"
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The first load of another alias goes to storage at once, not after that refresh.
        staging = pool.submit(cache.get, alias="staging")
        assert staging.result(timeout=WAIT / 2).version == 1
        assert not registry.gate.is_set()
    registry.gate.set()
    assert cache.refreshed(WAIT)


class CountingLock:
    """The cache's refresh lock, counting the callers that block on it, so a test knows who
    is queued behind a first load without sleeping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocking = 0
        self._changed = threading.Condition()

    def acquire(self, blocking: bool = True) -> bool:
        if blocking:
            with self._changed:
                self._blocking += 1
                self._changed.notify_all()
        return self._lock.acquire(blocking)

    def release(self) -> None:
        self._lock.release()

    def wait_for_blocking(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._blocking >= count, WAIT)


class CountingRegistry(MemoryRegistry):
    def __init__(self, versions: dict[int, ModelArtifact]) -> None:
        super().__init__(versions)
        self.attempts = 0

    def alias_generation(self, model: str, alias: str) -> int | None:
        self.attempts += 1
        return super().alias_generation(model, alias)


def test_callers_queued_behind_a_failed_first_load_are_unavailable_at_once(trained_artifact):
    # Storage hangs at a cold start: the requests that queued behind the first load get
    # its 503 when it fails, instead of each trying storage again in turn (a convoy where
    # the n-th waits n storage timeouts).
    registry = CountingRegistry({1: trained_artifact.with_version(1)})
    registry.failure = api_exceptions.ServiceUnavailable("down")
    registry.gate = threading.Event()
    cache = make_cache(registry, Clock())
    lock = CountingLock()
    cache._refresh_locks["production"] = lock  # type: ignore[assignment]
    queued = 3
    with ThreadPoolExecutor(max_workers=1 + queued) as pool:
        first = pool.submit(cache.get)
        assert registry.entered.wait(WAIT), "the first load never reached storage"
        behind = [pool.submit(cache.get) for _ in range(queued)]
        assert lock.wait_for_blocking(1 + queued), "the requests never queued"
        registry.gate.set()
        for request in [first, *behind]:
            with pytest.raises(ModelUnavailable):
                request.result(timeout=WAIT)
    assert registry.attempts == 1
    # A request arriving later tries storage again, and serves once storage is back.
    registry.failure = None
    assert cache.get().version == 1
    assert registry.attempts == 2
