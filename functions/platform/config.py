"""Configuration, read once from the environment into a frozen, typed object."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from infra import names
from model.continuous_training import RetrainSettings
from model.registry import DEFAULT_MAX_ARTIFACT_BYTES, check_model_name
from model.validation import Rules

T = TypeVar("T")


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    project_id: str = names.PROJECT_ID
    bucket: str = names.BUCKET
    model_name: str = names.MODEL_NAME
    serving_alias: str = names.SERVING_ALIAS
    # How stale the served alias may be: a promotion is served within this time.
    model_refresh_seconds: float = 30.0
    # How many pinned versions (?version=N) a process keeps loaded, per model.
    pinned_models: int = 8
    # How many models a process keeps loaded; the least recently used leaves first.
    max_loaded_models: int = 32
    # The models a deployment serves; empty: every model of the registry.
    served_models: tuple[str, ...] = ()
    max_instances: int = 100_000
    max_body_bytes: int = 16 * 1024 * 1024
    # A body or path longer than this is answered on a worker thread, off the event loop.
    offload_bytes: int = 64 * 1024
    storage_timeout_seconds: float = 10.0
    # The largest file of a model version that is read (model.json, model.onnx).
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    retry_after_seconds: int = 10
    results_topic: str = names.PREDICTION_RESULTS
    # How long an invocation waits for its result to be confirmed published.
    publish_timeout_seconds: float = 10.0
    # retrain: where outcomes go, and the rules an uploaded dataset must meet.
    model_events_topic: str = names.MODEL_EVENTS
    max_dataset_bytes: int = 64 * 1024 * 1024
    min_training_rows: int = 30
    # A value this many standard deviations from production's training mean is far out...
    outlier_sigmas: float = 6.0
    # ...and a dataset with a larger share of rows holding such values is refused.
    outlier_reject_share: float = 0.05
    holdout_fraction: float = 0.2
    training_seed: int = 0
    # An attempt silent for longer than this is presumed dead and another takes over.
    retrain_lease_seconds: float = 30.0
    # The longest search retrain makes when a model's training settings ask for one: well
    # inside the function's time limit, with the training, gate and report still to come.
    retrain_search_seconds: float = 120.0
    # The prediction log and the drift job (docs/monitoring.md).
    prediction_log_topic: str = names.PREDICTION_LOG
    # The share of successful requests logged; 0 turns the log off.
    prediction_log_sample_rate: float = 1.0
    # A larger request logs a uniform sample of this many instances, with the total count.
    prediction_log_max_instances: int = 1_000
    drift_subscription: str = names.PREDICTION_LOG_SUB
    drift_alerts_topic: str = names.DRIFT_ALERTS
    # Records one drift window pulls at most.
    drift_window: int = 10_000
    # Fewer serving values of a version than this: reported, never alerted on.
    drift_min_samples: int = 100
    # Ground truth (docs/feedback.md): where POST /feedback publishes, and how long
    # join_feedback keeps a prediction for its label, and a label for its prediction.
    feedback_topic: str = names.PREDICTION_FEEDBACK
    feedback_retention_days: float = 30.0
    # Live quality (docs/monitoring.md): labelled rows of the last QUALITY_WINDOW_HOURS; a
    # version with fewer labels than QUALITY_MIN_LABELS is never alerted on; one alert per
    # version and metric per QUALITY_ALERT_COOLDOWN_HOURS.
    performance_alerts_topic: str = names.PERFORMANCE_ALERTS
    quality_window_hours: float = 24.0
    quality_min_labels: int = 100
    quality_alert_cooldown_hours: float = 24.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        default = cls()
        return cls(
            project_id=_read(env, "GOOGLE_CLOUD_PROJECT", str, default.project_id),
            bucket=_read(env, "MODEL_BUCKET", str, default.bucket),
            model_name=_read(env, "MODEL_NAME", str, default.model_name),
            serving_alias=_read(env, "SERVING_ALIAS", str, default.serving_alias),
            model_refresh_seconds=_read(
                env, "MODEL_REFRESH_SECONDS", _non_negative(float), default.model_refresh_seconds
            ),
            pinned_models=_read(env, "PINNED_MODELS", _positive(int), default.pinned_models),
            max_loaded_models=_read(
                env, "MAX_LOADED_MODELS", _positive(int), default.max_loaded_models
            ),
            served_models=_read(env, "SERVED_MODELS", _model_names, default.served_models),
            max_instances=_read(env, "MAX_INSTANCES", _positive(int), default.max_instances),
            max_body_bytes=_read(env, "MAX_BODY_BYTES", _positive(int), default.max_body_bytes),
            offload_bytes=_read(env, "OFFLOAD_BYTES", _positive(int), default.offload_bytes),
            storage_timeout_seconds=_read(
                env, "STORAGE_TIMEOUT_SECONDS", _positive(float), default.storage_timeout_seconds
            ),
            max_artifact_bytes=_read(
                env, "MAX_ARTIFACT_BYTES", _positive(int), default.max_artifact_bytes
            ),
            retry_after_seconds=_read(
                env, "RETRY_AFTER_SECONDS", _positive(int), default.retry_after_seconds
            ),
            results_topic=_read(env, "RESULTS_TOPIC", str, default.results_topic),
            publish_timeout_seconds=_read(
                env, "PUBLISH_TIMEOUT_SECONDS", _positive(float), default.publish_timeout_seconds
            ),
            model_events_topic=_read(env, "MODEL_EVENTS_TOPIC", str, default.model_events_topic),
            max_dataset_bytes=_read(
                env, "MAX_DATASET_BYTES", _positive(int), default.max_dataset_bytes
            ),
            min_training_rows=_read(
                env, "MIN_TRAINING_ROWS", _positive(int), default.min_training_rows
            ),
            outlier_sigmas=_read(env, "OUTLIER_SIGMAS", _positive(float), default.outlier_sigmas),
            outlier_reject_share=_read(
                env, "OUTLIER_REJECT_SHARE", _share, default.outlier_reject_share
            ),
            holdout_fraction=_read(env, "HOLDOUT_FRACTION", _fraction, default.holdout_fraction),
            training_seed=_read(env, "TRAINING_SEED", int, default.training_seed),
            retrain_lease_seconds=_read(
                env, "RETRAIN_LEASE_SECONDS", _positive(float), default.retrain_lease_seconds
            ),
            retrain_search_seconds=_read(
                env, "RETRAIN_SEARCH_SECONDS", _positive(float), default.retrain_search_seconds
            ),
            prediction_log_topic=_read(
                env, "PREDICTION_LOG_TOPIC", str, default.prediction_log_topic
            ),
            prediction_log_sample_rate=_read(
                env, "PREDICTION_LOG_SAMPLE_RATE", _share, default.prediction_log_sample_rate
            ),
            prediction_log_max_instances=_read(
                env,
                "PREDICTION_LOG_MAX_INSTANCES",
                _positive(int),
                default.prediction_log_max_instances,
            ),
            drift_subscription=_read(env, "DRIFT_SUBSCRIPTION", str, default.drift_subscription),
            drift_alerts_topic=_read(env, "DRIFT_ALERTS_TOPIC", str, default.drift_alerts_topic),
            drift_window=_read(env, "DRIFT_WINDOW", _positive(int), default.drift_window),
            drift_min_samples=_read(
                env, "DRIFT_MIN_SAMPLES", _positive(int), default.drift_min_samples
            ),
            feedback_topic=_read(env, "FEEDBACK_TOPIC", str, default.feedback_topic),
            feedback_retention_days=_read(
                env,
                "FEEDBACK_RETENTION_DAYS",
                _non_negative(float),
                default.feedback_retention_days,
            ),
            performance_alerts_topic=_read(
                env, "PERFORMANCE_ALERTS_TOPIC", str, default.performance_alerts_topic
            ),
            quality_window_hours=_read(
                env, "QUALITY_WINDOW_HOURS", _positive(float), default.quality_window_hours
            ),
            quality_min_labels=_read(
                env, "QUALITY_MIN_LABELS", _positive(int), default.quality_min_labels
            ),
            quality_alert_cooldown_hours=_read(
                env,
                "QUALITY_ALERT_COOLDOWN_HOURS",
                _non_negative(float),
                default.quality_alert_cooldown_hours,
            ),
        )

    def retrain_settings(self) -> RetrainSettings:
        """What continuous training takes from these settings (docs/training.md)."""
        rules = Rules(
            min_rows=self.min_training_rows,
            max_bytes=self.max_dataset_bytes,
            outlier_sigmas=self.outlier_sigmas,
            outlier_reject_share=self.outlier_reject_share,
        )
        return RetrainSettings(
            rules,
            self.holdout_fraction,
            self.training_seed,
            self.serving_alias,
            self.retrain_search_seconds,
        )


def _read(env: Mapping[str, str], key: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as error:
        raise ConfigError(f"environment variable {key}={raw!r}: {error}") from None


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        value = kind(raw)
        if not value > 0:  # type: ignore[operator]
            raise ValueError("must be greater than 0")
        return value

    return parse


def _non_negative(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        value = kind(raw)
        if not value >= 0:  # type: ignore[operator]
            raise ValueError("must be 0 or more")
        return value

    return parse


def _model_names(raw: str) -> tuple[str, ...]:
    """A comma-separated list of model names."""
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        check_model_name(name)
    return names


def _share(raw: str) -> float:
    """A share of rows, 0 to 1 inclusive."""
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError("must be between 0 and 1")
    return value


def _fraction(raw: str) -> float:
    """A fraction strictly between 0 and 1."""
    value = float(raw)
    if not 0 < value < 1:
        raise ValueError("must be greater than 0 and less than 1")
    return value
