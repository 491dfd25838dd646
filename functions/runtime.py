"""Process-wide state, created lazily on first use and reused across invocations.

Nothing slow happens at import time; `reset()` lets tests start from a clean process.
"""

from __future__ import annotations

import os
import threading

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisher

from functions.config import Settings
from functions.model_cache import ModelCache
from model.gcs import storage_client as make_storage_client
from model.registry import Registry

_lock = threading.Lock()
_settings: Settings | None = None
_storage: storage.Client | None = None
_cache: ModelCache | None = None
_confirmed_publisher: GapicPublisher | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def storage_client() -> storage.Client:
    global _storage
    with _lock:
        if _storage is None:
            _storage = make_storage_client(settings().project_id)
        return _storage


def confirmed_publisher() -> GapicPublisher:
    """One plain Publish client per process, for calls that wait for their own answer."""
    global _confirmed_publisher
    if _confirmed_publisher is not None:
        return _confirmed_publisher  # every result takes this path: no lock
    with _lock:
        if _confirmed_publisher is None:
            _confirmed_publisher = GapicPublisher(**_emulator_options())
        return _confirmed_publisher


def _emulator_options() -> dict[str, object]:
    """What pubsub_v1.PublisherClient does when PUBSUB_EMULATOR_HOST is set: plaintext,
    no credentials."""
    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not host:
        return {}
    return {
        "client_options": {"api_endpoint": host},
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
    }


def topic_path(topic: str) -> str:
    return f"projects/{settings().project_id}/topics/{topic}"


def model_cache() -> ModelCache:
    global _cache
    if _cache is not None:
        return _cache
    config = settings()
    registry = Registry(storage_client(), config.bucket, timeout=config.storage_timeout_seconds)
    with _lock:
        if _cache is None:
            _cache = ModelCache(
                registry,
                model_name=config.model_name,
                serving_alias=config.serving_alias,
                refresh_seconds=config.model_refresh_seconds,
                max_pinned=config.pinned_models,
            )
        return _cache


def reset() -> None:
    """Forget settings, clients and models (tests change the environment between cases)."""
    global _settings, _storage, _cache, _confirmed_publisher
    with _lock:
        if _confirmed_publisher is not None:
            _confirmed_publisher.transport.close()  # its channel, so no thread outlives a test
        _settings = _storage = _cache = _confirmed_publisher = None
