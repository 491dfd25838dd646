from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from infra.names import MODEL_NAME
from model.artifact import ArtifactError, IntegrityError, from_json
from model.dataset import load_diabetes
from model.drift import has_drift_reference
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


DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_version_registered_before_the_drift_bins_still_loads():
    """model.json as the code before drift monitoring wrote it: same format, same checksum."""
    old = from_json((DATA / "model-without-drift-bins.json").read_bytes())
    assert old.version == 1
    assert "bins" not in old.reference["bmi"]
    assert not has_drift_reference(old.reference["bmi"])
    assert old.predict(np.array([[0.05]])).shape == (1,)


def test_new_versions_keep_drift_bins(artifact):
    reference = json.loads(artifact.to_json())["reference"]["bmi"]
    assert set(reference["bins"]) == {"edges", "counts"}
    assert len(reference["bins"]["counts"]) == len(reference["bins"]["edges"]) + 1
    assert has_drift_reference(reference)
