"""Process-wide state, created lazily on first use and reused across invocations.

Nothing slow happens at import time; `reset()` lets tests start from a clean process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from google.api_core import grpc_helpers
from google.cloud import pubsub_v1
from google.cloud import storage as storage_module
from google.pubsub_v1 import PublishRequest, PublishResponse

from functions.platform.config import Settings
from functions.serving.model_cache import ModelCache
from functions.serving.model_shelf import ModelShelf
from functions.serving.prediction_log import PredictionLog
from model.artifact import ModelArtifact
from model.gcs import storage_client
from model.registry import Registry
from model.run_ledger import RunLedger

_PUBLISH_METHOD = "/google.pubsub.v1.Publisher/Publish"
_lock = threading.Lock()
_settings: Settings | None = None
_storage: storage_module.Client | None = None
_shelf: ModelShelf | None = None
_publisher: pubsub_v1.PublisherClient | None = None
_publish_rpc: Callable[..., Any] | None = None
_registry: Registry | None = None
_ledger: RunLedger | None = None
_prediction_log: PredictionLog | None = None
_subscriber: pubsub_v1.SubscriberClient | None = None


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def storage() -> storage_module.Client:
    """One Cloud Storage client per process (the emulator's when STORAGE_EMULATOR_HOST is set)."""
    global _storage
    with _lock:
        if _storage is None:
            _storage = storage_client(settings().project_id)
        return _storage


def publisher() -> pubsub_v1.PublisherClient:
    """One batching publisher per process: its channel and batching threads are reused."""
    global _publisher
    with _lock:
        if _publisher is None:
            # Each invocation waits for its own confirmation, so waiting to fill a batch
            # (10 ms by default) would only add latency to every request.
            _publisher = pubsub_v1.PublisherClient(
                batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.001)
            )
        return _publisher


def subscriber() -> pubsub_v1.SubscriberClient:
    """One subscriber per process, for the drift job's pulls."""
    global _subscriber
    with _lock:
        if _subscriber is None:
            _subscriber = pubsub_v1.SubscriberClient()
        return _subscriber


def prediction_log() -> PredictionLog:
    """The process's prediction log; its thread starts with the first record."""
    global _prediction_log
    if _prediction_log is not None:
        return _prediction_log  # every request: no lock
    config = settings()
    with _lock:
        if _prediction_log is None:
            _prediction_log = PredictionLog(
                topic_path(config.prediction_log_topic),
                publish_factory=lambda: raw_publish(
                    pubsub_v1.PublisherClient().transport.grpc_channel, serialized=True
                ),
                sample_rate=config.prediction_log_sample_rate,
                max_instances=config.prediction_log_max_instances,
                publish_timeout=config.publish_timeout_seconds,
                takes_feedback=lambda model: model_shelf().takes_feedback(model),
            )
        return _prediction_log


def publish_rpc() -> Callable[..., Any]:
    """The Publish RPC on the process's publisher channel (its credentials, or the emulator's
    plaintext), for calls that wait for their own answer: it takes and returns plain
    protobuf messages, and raises google.api_core exceptions."""
    global _publish_rpc
    if _publish_rpc is not None:
        return _publish_rpc  # every result takes this path: no lock
    channel = publisher().transport.grpc_channel
    with _lock:
        if _publish_rpc is None:
            _publish_rpc = raw_publish(channel)
        return _publish_rpc


def raw_publish(channel: Any, serialized: bool = False) -> Callable[..., Any]:
    """Pub/Sub's Publish method on a gRPC channel, past the GAPIC layers and proto-plus; it
    takes a PublishRequest, or its bytes when `serialized`."""
    stub = channel.unary_unary(
        _PUBLISH_METHOD,
        request_serializer=None if serialized else PublishRequest.pb().SerializeToString,
        response_deserializer=PublishResponse.pb().FromString,
    )
    call: Callable[..., Any] = grpc_helpers.wrap_errors(stub)
    return call


def topic_path(topic: str) -> str:
    return f"projects/{settings().project_id}/topics/{topic}"


def registry() -> Registry:
    global _registry
    if _registry is None:
        config = settings()
        _registry = Registry(
            storage(),
            config.bucket,
            timeout=config.storage_timeout_seconds,
            max_artifact_bytes=config.max_artifact_bytes,
        )
    return _registry


def run_ledger() -> RunLedger:
    """Records of the dataset uploads retrain handled, in the registry's bucket."""
    global _ledger
    if _ledger is None:
        config = settings()
        _ledger = RunLedger(
            storage(),
            config.bucket,
            lease_seconds=config.retrain_lease_seconds,
            timeout=config.storage_timeout_seconds,
        )
    return _ledger


def model_shelf() -> ModelShelf:
    """The models this process serves, each loaded on its first request."""
    global _shelf
    if _shelf is not None:
        return _shelf
    config = settings()
    registry_ = registry()

    def cache_of(model: str) -> ModelCache:
        return ModelCache(
            registry_,
            model_name=model,
            serving_alias=config.serving_alias,
            refresh_seconds=config.model_refresh_seconds,
            max_pinned=config.pinned_models,
        )

    with _lock:
        if _shelf is None:
            _shelf = ModelShelf(
                registry_,
                default_model=config.model_name,
                caches=cache_of,
                max_models=config.max_loaded_models,
                allowed=config.served_models,
            )
        return _shelf


def model_cache(model: str | None = None) -> ModelCache:
    """One model's cache (the default model's unless named)."""
    shelf = model_shelf()
    return shelf.cache(model or shelf.default_model)


class _ProcessModels:
    """The process's models as the prediction core takes them, created on first use: a
    request refused before it needs a model (a bad body, say) never touches storage."""

    def get(
        self,
        model: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        split_key: str | None = None,
    ) -> ModelArtifact:
        return model_shelf().get(model, version, alias, split_key)


models = _ProcessModels()


def shutdown() -> None:
    """The process ends: publish the prediction log's queued records (bounded wait)."""
    if _prediction_log is not None:
        _prediction_log.stop()


def reset() -> None:
    """Forget settings, clients and models (tests change the environment between cases)."""
    global _settings, _storage, _shelf, _publisher, _publish_rpc
    global _registry, _ledger, _prediction_log, _subscriber
    with _lock:
        if _publisher is not None:
            _publisher.stop()  # flush and end its threads, so none outlives the test
            _publisher.transport.close()  # its channel, which results are published on too
        if _prediction_log is not None:
            _prediction_log.stop()  # publish what is queued, end its thread
        if _subscriber is not None:
            _subscriber.close()
        _settings = _storage = _shelf = _publisher = _publish_rpc = None
        _registry = _ledger = _prediction_log = _subscriber = None


def _forget_prediction_log() -> None:
    """A forked child (a gunicorn worker) inherits the object but not its thread."""
    global _prediction_log
    _prediction_log = None


os.register_at_fork(after_in_child=_forget_prediction_log)
