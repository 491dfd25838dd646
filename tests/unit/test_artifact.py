"""The artifact's manifest and files, and everything loading refuses (docs/registry.md)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from infra.names import MODEL_NAME
from model.artifact import (
    ONNX_FILE,
    ArtifactError,
    IntegrityError,
    from_json,
)
from model.dataset import load_diabetes
from model.drift import has_drift_reference
from model.estimator import TrainingSpec
from model.training import train
from tests.artifacts import with_graph


@pytest.fixture(scope="module")
def artifact():
    return train(load_diabetes(), MODEL_NAME).artifact.with_version(3)


@pytest.fixture(scope="module")
def tree():
    spec = TrainingSpec("hist_gradient_boosting", {"max_iter": 10})
    return train(load_diabetes(("bmi", "bp")), "trees", spec).artifact.with_version(2)


def test_round_trip_keeps_every_field(artifact, tree):
    assert from_json(artifact.to_json()) == artifact
    loaded = from_json(tree.to_json(), tree.files().__getitem__)
    assert loaded.to_document() == tree.to_document()


def test_is_plain_json_with_the_documented_fields(artifact):
    document = json.loads(artifact.to_json())
    assert document["format"] == "linear-json"
    assert document["name"] == MODEL_NAME
    assert document["version"] == 3
    assert document["features"] == ["bmi"]
    assert (document["family"], document["params"]) == ("linear", {})
    assert set(document["libraries"]) == {"scikit-learn", "numpy"}
    assert set(document["reference"]["bmi"]) >= {"mean", "std", "min", "max", "quantiles"}
    assert set(document["metrics"]) == {"r2", "mse", "rmse", "mae", "rows"}
    lineage = document["lineage"]
    for key in ("data_sha256", "rows", "parameters", "seed", "code_version", "created_at"):
        assert key in lineage
    assert len(document["sha256"]) == 64


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
        (b'{"format": "pickle"}', "unknown artifact format 'pickle'"),
    ],
)
def test_other_bytes_are_refused_with_a_reason(data, message):
    with pytest.raises(ArtifactError, match=message):
        from_json(data)


# The tree's graph replaced, its manifest rewritten to match (tests/artifacts.py).


def graph(node_domain: str = "", external: bool = False) -> bytes:
    """A one-node graph of the manifest's input: Identity, in the given operator domain."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    if external:
        weights.data_location = TensorProto.EXTERNAL
        weights.external_data.add(key="location", value="/etc/passwd")
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["input"], ["variable"], domain=node_domain)],
            "g",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 2])],
            [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 2])],
            initializer=[weights],
        ),
        opset_imports=[helper.make_opsetid("", 17)]
        + ([helper.make_opsetid(node_domain, 1)] if node_domain else []),
    )
    return bytes(model.SerializeToString())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pickle.dumps({"not": "a graph"}), "model.onnx is not an ONNX model"),
        (graph(node_domain="com.example.native"), r"operator domains \['com.example.native'\]"),
        (graph(external=True), "refers to external data files"),
    ],
    ids=["pickle", "custom-operator", "external-data"],
)
def test_a_graph_behind_a_matching_manifest_is_still_checked(tree, data, message):
    manifest, files = with_graph(tree, data)
    with pytest.raises(ArtifactError, match=message):
        from_json(manifest, files.__getitem__)


def test_a_graph_that_is_not_the_manifests_is_refused(tree):
    changed = bytearray(tree.files()[ONNX_FILE])
    changed[-1] ^= 1
    with pytest.raises(IntegrityError, match=r"model\.onnx of .* do not match the manifest"):
        from_json(tree.to_json(), {ONNX_FILE: bytes(changed)}.__getitem__)


def test_a_standard_graph_built_by_hand_passes_the_checks(tree):
    """The checks refuse what they name, not every graph they did not make."""
    manifest, files = with_graph(tree, graph())
    assert onnx.load_from_string(files[ONNX_FILE]).graph.node[0].op_type == "Identity"
    loaded = from_json(manifest, files.__getitem__)
    assert loaded.format == "onnx"


DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_version_of_the_first_format_still_loads_and_predicts_as_it_did():
    """model.json as the code before model families wrote it: standardised weights."""
    document = json.loads((DATA / "model-without-drift-bins.json").read_bytes())
    old = from_json((DATA / "model-without-drift-bins.json").read_bytes())
    assert (old.version, old.family, old.format) == (1, "linear", "linear-json")
    X = np.array([[0.05], [-0.02]])
    mean, scale = (np.array(document["preprocessing"][key]) for key in ("mean", "scale"))
    expected = ((X - mean) / scale) @ np.array(document["weights"]) + document["bias"]
    np.testing.assert_allclose(old.predict(X), expected, rtol=1e-12)
    assert not has_drift_reference(old.reference["bmi"])


def test_new_versions_keep_drift_bins(artifact):
    reference = json.loads(artifact.to_json())["reference"]["bmi"]
    assert set(reference["bins"]) == {"edges", "counts"}
    assert len(reference["bins"]["counts"]) == len(reference["bins"]["edges"]) + 1
    assert has_drift_reference(reference)
