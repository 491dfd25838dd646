from __future__ import annotations

import pytest

from functions.platform.config import ConfigError, Settings
from infra import names


def test_defaults_are_the_contract_names():
    settings = Settings.from_env({})
    assert settings.project_id == names.PROJECT_ID == "local-ml"
    assert settings.bucket == names.BUCKET == "ml-artifacts"
    assert settings.model_name == "diabetes-bmi"
    assert settings.serving_alias == "production"
    assert settings.model_refresh_seconds == 30
    assert settings.max_instances == 100_000
    assert settings.max_body_bytes == 16 * 1024 * 1024
    assert settings.results_topic == "prediction-results"
    assert settings.model_events_topic == names.MODEL_EVENTS == "model-events"
    assert settings.max_dataset_bytes == 64 * 1024 * 1024
    assert (settings.min_training_rows, settings.outlier_sigmas) == (30, 6.0)
    assert (settings.outlier_reject_share, settings.holdout_fraction) == (0.05, 0.2)
    assert (settings.training_seed, settings.retrain_lease_seconds) == (0, 30.0)


def test_values_come_from_the_given_mapping():
    settings = Settings.from_env(
        {
            "MODEL_BUCKET": "b",
            "MODEL_REFRESH_SECONDS": "0",
            "MAX_INSTANCES": "5",
            "RESULTS_TOPIC": "r",
        }
    )
    assert (settings.bucket, settings.model_refresh_seconds, settings.max_instances) == (
        "b",
        0.0,
        5,
    )
    assert settings.results_topic == "r"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_INSTANCES", "0"),
        ("MAX_INSTANCES", "many"),
        ("MODEL_REFRESH_SECONDS", "-1"),
        ("OUTLIER_REJECT_SHARE", "1.5"),
        ("HOLDOUT_FRACTION", "1"),
        ("HOLDOUT_FRACTION", "0"),
        ("MIN_TRAINING_ROWS", "0"),
        ("RETRAIN_LEASE_SECONDS", "0"),
        ("TRAINING_SEED", "x"),
    ],
)
def test_bad_values_name_the_variable(key, value):
    with pytest.raises(ConfigError, match=f"{key}={value!r}"):
        Settings.from_env({key: value})


def test_retrain_settings_come_from_the_mapping():
    settings = Settings.from_env(
        {
            "MODEL_EVENTS_TOPIC": "e",
            "MAX_DATASET_BYTES": "100",
            "MIN_TRAINING_ROWS": "5",
            "OUTLIER_SIGMAS": "3",
            "OUTLIER_REJECT_SHARE": "0",
            "HOLDOUT_FRACTION": "0.5",
            "TRAINING_SEED": "7",
            "RETRAIN_LEASE_SECONDS": "2.5",
        }
    )
    assert settings.model_events_topic == "e"
    assert (settings.max_dataset_bytes, settings.min_training_rows) == (100, 5)
    assert (settings.outlier_sigmas, settings.outlier_reject_share) == (3.0, 0.0)
    assert (settings.holdout_fraction, settings.training_seed) == (0.5, 7)
    assert settings.retrain_lease_seconds == 2.5
    retrain = settings.retrain_settings()
    assert (retrain.rules.min_rows, retrain.rules.max_bytes) == (5, 100)
    assert (retrain.holdout_fraction, retrain.seed) == (0.5, 7)


def test_monitoring_defaults_are_the_contract_ones():
    settings = Settings.from_env({})
    assert settings.prediction_log_topic == names.PREDICTION_LOG == "prediction-log"
    assert settings.prediction_log_sample_rate == 1.0
    assert settings.prediction_log_max_instances == 1_000
    assert settings.drift_subscription == names.PREDICTION_LOG_SUB == "prediction-log-sub"
    assert settings.drift_alerts_topic == names.DRIFT_ALERTS == "drift-alerts"
    assert settings.drift_window == 10_000
    assert settings.drift_min_samples == 100


@pytest.mark.parametrize("value", ["-0.1", "1.5", "often"])
def test_the_sample_rate_is_a_share(value):
    with pytest.raises(ConfigError, match="PREDICTION_LOG_SAMPLE_RATE"):
        Settings.from_env({"PREDICTION_LOG_SAMPLE_RATE": value})


def test_a_zero_sample_rate_turns_the_log_off():
    assert Settings.from_env({"PREDICTION_LOG_SAMPLE_RATE": "0"}).prediction_log_sample_rate == 0
