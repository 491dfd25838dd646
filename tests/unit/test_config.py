from __future__ import annotations

import pytest

from functions.config import ConfigError, Settings
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
    [("MAX_INSTANCES", "0"), ("MAX_INSTANCES", "many"), ("MODEL_REFRESH_SECONDS", "-1")],
)
def test_bad_values_name_the_variable(key, value):
    with pytest.raises(ConfigError, match=f"{key}={value!r}"):
        Settings.from_env({key: value})
