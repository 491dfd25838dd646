"""Models loaded once per process, with the served alias re-read at most every N seconds.

A promotion or rollback is picked up within `refresh_seconds` without a restart. If the new
version cannot be loaded (storage down or refusing, artifact corrupt), the version already
served keeps serving and the failure is logged; only with no model at all does a request get
a 503. A refresh never blocks a request that has a model to serve: the request that finds
the alias due starts one refresh in a background thread and, like every other, keeps the
served version until it lands; only the first load of an alias makes callers wait, and if it
fails, it answers every caller that waited for it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from functions.platform import logs
from functions.platform.errors import ModelUnavailable, NotFound, is_backend_failure
from model.artifact import ArtifactError, ModelArtifact
from model.layout import settings_path
from model.registry import Registry, VersionNotFound
from model.rollout import Rollout, RolloutError, read_rollout, rollout_path


@dataclass(frozen=True)
class _AliasState:
    model: ModelArtifact
    generation: int
    checked_at: float


@dataclass(frozen=True)
class _RolloutState:
    rollout: Rollout
    candidate: ModelArtifact


class ModelCache:
    def __init__(
        self,
        registry: Registry,
        model_name: str,
        serving_alias: str,
        refresh_seconds: float,
        max_pinned: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._model_name = model_name
        self._serving_alias = serving_alias
        self._refresh_seconds = refresh_seconds
        self._max_pinned = max_pinned
        self._clock = clock
        self._aliases: dict[str, _AliasState] = {}
        self._pinned: OrderedDict[int, ModelArtifact] = OrderedDict()
        # One per alias, held across storage calls, but only by the alias's background
        # refresh (a request never waits for it) or its first load (others must wait).
        self._refresh_locks: dict[str, threading.Lock] = {}
        # The last failed first load of each alias, shared with the callers queued behind it.
        self._failed_first_loads: dict[str, ModelUnavailable] = {}
        self._refreshers: dict[str, threading.Thread] = {}
        # Held for dictionary updates only, never across I/O.
        self._pinned_lock = threading.Lock()
        # The rollout under way (docs/rollout.md), read with each refresh of the served alias.
        self._rollout: _RolloutState | None = None
        self._rollout_generation = 0
        # Whether the model takes labels: its training settings' `feedback` (docs/feedback.md).
        self._takes_feedback = False
        self._settings_generation = 0

    @property
    def serving_alias(self) -> str:
        return self._serving_alias

    def get(
        self, version: int | None = None, alias: str | None = None, split_key: str | None = None
    ) -> ModelArtifact:
        """The model for a request: a pinned version, a named alias, or the served alias;
        unpinned with a `split_key` (its request id), the rollout's candidate if the split
        sends that key there."""
        if version is not None:
            return self._version(version)
        if alias is not None:
            return self._alias(alias)
        served = self._alias(self._serving_alias)  # refreshes the rollout too when due
        rollout = self._rollout
        if rollout is not None and split_key is not None and rollout.rollout.takes(split_key):
            return rollout.candidate
        return served

    @property
    def rollout(self) -> Rollout | None:
        """The rollout this process follows now."""
        return None if self._rollout is None else self._rollout.rollout

    @property
    def takes_feedback(self) -> bool:
        """Whether the log keeps every instance of its requests, as read with the alias."""
        return self._takes_feedback

    def is_ready(self) -> bool:
        return self._serving_alias in self._aliases

    # Aliases -------------------------------------------------------------------------

    def _alias(self, alias: str) -> ModelArtifact:
        state = self._aliases.get(alias)
        if state is not None and self._clock() - state.checked_at < self._refresh_seconds:
            return state.model  # the fast path: no lock, no I/O
        if state is None:
            return self._first_load(alias)
        if self._lock_of(alias).acquire(blocking=False):  # else one is under way already
            # Storage calls take milliseconds, or a timeout when storage hangs: not this
            # request's. The thread releases the lock.
            refresher = threading.Thread(
                target=self._refresh_in_background, args=(alias,), name="model-refresh"
            )
            self._refreshers[alias] = refresher
            refresher.start()
        return state.model

    def refreshed(self, timeout: float) -> bool:
        """Wait for the background refreshes under way, if any; whether none still runs."""
        deadline = time.monotonic() + timeout
        for refresher in list(self._refreshers.values()):
            refresher.join(max(deadline - time.monotonic(), 0.0))
        return not any(refresher.is_alive() for refresher in self._refreshers.values())

    def _lock_of(self, alias: str) -> threading.Lock:
        """The alias's own lock: a hung refresh of one alias holds up no other."""
        return self._refresh_locks.setdefault(alias, threading.Lock())  # atomic in CPython

    def _refresh_in_background(self, alias: str) -> None:
        try:
            self._refresh_if_stale(alias)
        except NotFound:
            pass  # a named alias removed: forgotten by _alias_missing, the next request's 404
        except Exception as error:  # a bug: logged, and the served version keeps serving
            logs.exception(
                f"model refresh failed: {type(error).__name__}: {error}",
                component="model_cache",
                alias=alias,
            )
            state = self._aliases.get(alias)
            if state is not None:  # not again before a full refresh period
                self._aliases[alias] = _AliasState(state.model, state.generation, self._clock())
        finally:
            self._lock_of(alias).release()

    def _first_load(self, alias: str) -> ModelArtifact:
        """Nothing to serve yet: wait for the load under way, if any. If it failed meanwhile,
        its failure answers this caller too; trying storage again in turn, the n-th caller
        queued behind a hung storage would wait n storage timeouts for its 503."""
        failed_before = self._failed_first_loads.get(alias)
        self._lock_of(alias).acquire()
        try:
            failed = self._failed_first_loads.get(alias)
            if failed is not None and failed is not failed_before and alias not in self._aliases:
                raise ModelUnavailable(failed.message)
            try:
                return self._refresh_if_stale(alias)
            except ModelUnavailable as error:
                self._failed_first_loads[alias] = error
                raise
        finally:
            self._lock_of(alias).release()

    def _refresh_if_stale(self, alias: str) -> ModelArtifact:
        state = self._aliases.get(alias)
        if state is not None and self._clock() - state.checked_at < self._refresh_seconds:
            return state.model  # refreshed by another caller meanwhile
        model = self._refresh(alias, state)
        if alias == self._serving_alias:
            self._refresh_rollout()
            self._refresh_feedback()
        return model

    def _refresh_feedback(self) -> None:
        """Follow the settings' `feedback`: one metadata read when they have not changed.
        Storage down or settings unreadable keep what was read last."""
        path = settings_path(self._model_name)
        try:
            generation = self._registry.document_generation(path)
            if generation == self._settings_generation:
                return
            document = self._registry.document(path)[0] if generation else None
        except Exception as error:
            if not is_backend_failure(error) and not isinstance(error, ValueError):
                raise
            logs.error(f"settings: cannot read them: {error}", component="model_cache")
            return
        self._takes_feedback = isinstance(document, dict) and document.get("feedback") is True
        self._settings_generation = generation

    def _refresh_rollout(self) -> None:
        """Follow rollout.json: one metadata read when it has not changed. A candidate that
        cannot be loaded takes no traffic; storage down keeps the split as it was."""
        path = rollout_path(self._model_name)
        try:
            generation = self._registry.document_generation(path)
            if generation == self._rollout_generation:
                return
            rollout = read_rollout(self._registry, self._model_name)
            state = None if rollout is None else _RolloutState(rollout, self._load(rollout.version))
        except (ArtifactError, VersionNotFound, RolloutError) as error:
            logs.error(
                f"rollout: cannot follow it, production takes all traffic: {error}",
                component="model_cache",
            )
            self._rollout, self._rollout_generation = None, generation
            return
        except Exception as error:
            if not is_backend_failure(error):
                raise
            logs.error(
                f"rollout: storage unavailable, the split stays: {error}", component="model_cache"
            )
            return
        if state is not None:
            logs.info(
                f"rollout: version {state.rollout.version} takes {state.rollout.percent:g}%",
                component="model_cache",
                model_version=state.rollout.version,
            )
        elif self._rollout is not None:
            logs.info("rollout ended", component="model_cache")
        self._rollout, self._rollout_generation = state, generation

    def _refresh(self, alias: str, state: _AliasState | None) -> ModelArtifact:
        now = self._clock()
        try:
            generation = self._registry.alias_generation(self._model_name, alias)
            if state is not None and generation == state.generation:
                self._aliases[alias] = _AliasState(state.model, state.generation, now)
                return state.model
            record = self._registry.alias(self._model_name, alias) if generation else None
            if record is None:
                return self._alias_missing(alias, state)
            model = self._load(record.version)
        except (ArtifactError, VersionNotFound) as error:
            return self._keep_serving(alias, state, f"cannot load the new version: {error}")
        except Exception as error:
            if not is_backend_failure(error):
                raise
            return self._keep_serving(alias, state, f"model storage unavailable: {error}")
        if state is None or state.model.version != model.version:
            logs.info(
                "serving a new model version",
                component="model_cache",
                model_version=model.version,
                alias=alias,
                previous_version=state.model.version if state else None,
            )
        self._aliases[alias] = _AliasState(model, record.generation, now)
        return model

    def _alias_missing(self, alias: str, state: _AliasState | None) -> ModelArtifact:
        if alias == self._serving_alias:
            if state is not None:
                return self._keep_serving(alias, state, f"alias {alias!r} disappeared")
            raise ModelUnavailable(f"no model of {self._model_name!r} is promoted to {alias!r} yet")
        self._aliases.pop(alias, None)
        raise NotFound(f"model {self._model_name!r} has no alias {alias!r}")

    def _keep_serving(self, alias: str, state: _AliasState | None, reason: str) -> ModelArtifact:
        if state is None:
            logs.error(reason, component="model_cache", alias=alias)
            raise ModelUnavailable(f"no model can be loaded for alias {alias!r}: {reason}")
        logs.error(
            f"{reason}; version {state.model.version} keeps serving",
            component="model_cache",
            model_version=state.model.version,
            alias=alias,
        )
        # Wait a full refresh period before trying again, not on every request.
        self._aliases[alias] = _AliasState(state.model, state.generation, self._clock())
        return state.model

    # Versions ------------------------------------------------------------------------

    def _version(self, version: int) -> ModelArtifact:
        model = self._pinned.get(version) or self._served_version(version)
        if model is not None:
            return model
        try:
            return self._load(version)
        except VersionNotFound as error:
            raise NotFound(str(error)) from None
        except ArtifactError as error:
            logs.error(str(error), component="model_cache", model_version=version)
            raise ModelUnavailable(f"version {version} cannot be loaded: {error}") from None
        except Exception as error:
            if is_backend_failure(error):
                raise ModelUnavailable(f"model storage unavailable: {error}") from None
            raise

    def _served_version(self, version: int) -> ModelArtifact | None:
        for state in list(self._aliases.values()):
            if state.model.version == version:
                return state.model
        return None

    def _load(self, version: int) -> ModelArtifact:
        """Load through the bounded cache of versions. Two callers may load the same version
        at once (the same immutable artifact): cheaper than making either wait on the other."""
        with self._pinned_lock:
            model = self._pinned.get(version)
            if model is not None:
                self._pinned.move_to_end(version)
                return model
        model = self._registry.load(self._model_name, version)
        with self._pinned_lock:
            self._pinned[version] = model
            while len(self._pinned) > self._max_pinned:
                self._pinned.popitem(last=False)
        return model
