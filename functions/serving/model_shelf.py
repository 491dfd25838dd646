"""Every model of the registry, served by name from one process (docs/http.md, "Many models").

A model is loaded on its first request into its own `ModelCache`, which follows its alias as
before; at most `max_models` are kept, and the least recently used leaves first. A name the
deployment does not serve (outside its allow-list, or with no version in the registry) is a
404; the default model and those of the allow-list are expected, so until one of them has a
version promoted, its requests get a 503 (try again later), as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from functions.platform.errors import (
    InvalidArgument,
    ModelUnavailable,
    NotFound,
    is_backend_failure,
)
from functions.serving.model_cache import ModelCache
from model.artifact import ModelArtifact
from model.registry import Registry, check_model_name

CacheFactory = Callable[[str], ModelCache]


class ModelShelf:
    def __init__(
        self,
        registry: Registry,
        default_model: str,
        caches: CacheFactory,
        max_models: int,
        allowed: Iterable[str] = (),
    ) -> None:
        self._registry = registry
        self._default_model = default_model
        self._caches = caches
        self._max_models = max_models
        self._allowed = frozenset(allowed)  # empty: every model of the registry
        self._loaded: OrderedDict[str, ModelCache] = OrderedDict()
        self._lock = threading.Lock()  # held for dictionary updates only, never across I/O

    @property
    def default_model(self) -> str:
        return self._default_model

    def get(
        self,
        model: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        split_key: str | None = None,
    ) -> ModelArtifact:
        """The artifact for a request: a model by name (else the default), then as
        `ModelCache.get` selects within it."""
        cache = self.cache(model or self._default_model)
        return cache.get(version=version, alias=alias, split_key=split_key)

    def cache(self, model: str) -> ModelCache:
        """The model's cache, made on first use; NotFound for a model not served here."""
        cache = self._loaded.get(model)
        if cache is not None:
            # One C call, atomic under the GIL; evicted meanwhile, it serves this request still.
            # (try, not contextlib.suppress: every request passes here, and try costs nothing.)
            try:  # noqa: SIM105
                self._loaded.move_to_end(model)
            except KeyError:
                pass
            return cache
        self._check_served(model)
        with self._lock:
            cache = self._loaded.get(model)
            if cache is None:
                cache = self._loaded[model] = self._caches(model)
                while len(self._loaded) > self._max_models:
                    self._loaded.popitem(last=False)
            return cache

    def takes_feedback(self, model: str) -> bool:
        """Whether a model on the shelf takes labels (docs/feedback.md); False for one that
        left it: its request was answered, and a label for it has nothing to join."""
        cache = self._loaded.get(model)
        return cache is not None and cache.takes_feedback

    def served(self) -> list[str]:
        """The names of the models this deployment serves, from the registry."""
        names = self._registry.models()
        allowed = {*self._allowed, self._default_model}
        return [name for name in names if not self._allowed or name in allowed]

    def holds(self, model: str | None) -> bool:
        """Whether the model (else the default) is loaded, its served alias with it: then a
        request for it reads no storage, but to refresh in the background."""
        cache = self._loaded.get(model or self._default_model)
        return cache is not None and cache.is_ready()

    def loaded(self) -> list[str]:
        """The models held now, least recently used first."""
        return list(self._loaded)

    def _check_served(self, model: str) -> None:
        try:
            check_model_name(model)
        except ValueError as error:
            raise InvalidArgument(str(error)) from None
        if model == self._default_model:
            return  # served whatever the allow-list says, so unpinned URLs keep working
        if self._allowed and model not in self._allowed:
            served = ", ".join(sorted({*self._allowed, self._default_model}))
            raise NotFound(f"model {model!r} is not served here: use one of {served}")
        if model in self._allowed:
            return  # expected here: until it has a version, a 503 says "not yet", not a 404
        try:
            known = self._registry.has_versions(model)
        except Exception as error:
            if is_backend_failure(error):
                raise ModelUnavailable(f"model storage unavailable: {error}") from None
            raise
        if not known:
            raise NotFound(f"model {model!r} has no version in the registry: see GET /models")
