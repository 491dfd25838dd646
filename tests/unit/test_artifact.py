from __future__ import annotations

import json

import numpy as np
import pytest

from infra.names import MODEL_NAME
from model.artifact import ArtifactError, IntegrityError, from_json
from model.dataset import load_diabetes
from model.training import train


@pytest.fixture(scope="module")
def artifact():
    return train(load_diabetes(), MODEL_NAME).artifact.with_version(3)


def test_round_trip_keeps_every_field(artifact):
    assert from_json(artifact.to_json()) == artifact


def test_is_plain_json_with_the_documented_fields(artifact):
    document = json.loads(artifact.to_json())
    assert document["format"] == "linear-regression/v1"
    assert document["name"] == MODEL_NAME
    assert document["version"] == 3
    assert document["features"] == ["bmi"]
    assert set(document["preprocessing"]) == {"type", "mean", "scale"}
    assert set(document["reference"]["bmi"]) >= {"mean", "std", "min", "max", "quantiles"}
    assert set(document["metrics"]) == {"r2", "mse", "mae", "rows"}
    lineage = document["lineage"]
    for key in ("data_sha256", "rows", "parameters", "seed", "code_version", "created_at"):
        assert key in lineage
    assert len(document["sha256"]) == 64


def test_prediction_in_raw_space_equals_the_standardized_model(artifact):
    X = np.array([[0.5], [-0.1], [0.0]])
    standardized = (X - np.array(artifact.mean)) / np.array(artifact.scale)
    expected = standardized @ np.array(artifact.weights) + artifact.bias
    assert np.allclose(artifact.predict(X), expected)


def test_a_changed_weight_is_refused(artifact):
    document = json.loads(artifact.to_json())
    document["weights"][0] += 1.0
    with pytest.raises(IntegrityError, match="does not match"):
        from_json(json.dumps(document))


def test_a_missing_checksum_is_refused(artifact):
    document = json.loads(artifact.to_json())
    del document["sha256"]
    with pytest.raises(IntegrityError):
        from_json(json.dumps(document))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x04pickle", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"format": "pickle"}', "unknown artifact format"),
    ],
)
def test_other_bytes_are_refused_with_a_reason(data, message):
    with pytest.raises(ArtifactError, match=message):
        from_json(data)
