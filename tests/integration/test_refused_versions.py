"""A tree version refused at load, served by predict_batch from the emulator bucket: pinned, it
is a 503 naming the refusal; once the served alias moves to it, the version already serving
keeps serving. Each way of refusing a graph is proved in tests/unit/test_artifact.py; here,
one of each kind the registry meets: bytes changed after registration, pickle bytes behind a
manifest that matches them, a file over MAX_ARTIFACT_BYTES."""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Callable

import numpy as np
import pytest
from google.cloud import storage

from functions.platform import runtime
from infra.names import MODEL_NAME as MODEL
from model.artifact import ONNX_FILE, ModelArtifact
from model.dataset import load_diabetes
from model.estimator import TrainingSpec
from model.registry import version_path
from model.training import TrainingRun, train
from tests.artifacts import with_graph
from tests.clients import function_client

pytestmark = pytest.mark.emulators
FEATURES = ("bmi", "bp", "s5")
WAIT = 10.0  # a bound on the wait for the model cache's background refresh

# Damages the registered tree (in its bucket, or the settings); returns what the refusal says.
Refusal = Callable[[storage.Bucket, ModelArtifact, pytest.MonkeyPatch], str]


@pytest.fixture(scope="module")
def served() -> TrainingRun:
    """The version serving before the alias moves."""
    return train(load_diabetes(FEATURES), MODEL, TrainingSpec("ridge"))


@pytest.fixture(scope="module")
def tree() -> ModelArtifact:
    # A graph several times the size of its model.json (whose drift reference is ~40 KB).
    spec = TrainingSpec("random_forest", {"n_estimators": 40, "max_depth": 6})
    return train(load_diabetes(FEATURES), MODEL, spec).artifact


def tampered(bucket: storage.Bucket, tree: ModelArtifact, _: pytest.MonkeyPatch) -> str:
    """model.onnx overwritten after registration, by a writer bypassing the registry."""
    changed = bytearray(tree.files()[ONNX_FILE])
    changed[len(changed) // 2] ^= 1
    bucket.blob(version_path(MODEL, tree.version, ONNX_FILE)).upload_from_string(bytes(changed))
    return r"model\.onnx of .*: sha256 [0-9a-f]{64} and \d+ bytes do not match the manifest"


def pickled(bucket: storage.Bucket, tree: ModelArtifact, _: pytest.MonkeyPatch) -> str:
    """A pickle as model.onnx, and a model.json rewritten so that its hashes match."""
    manifest, files = with_graph(tree, pickle.dumps({"not": "a graph"}))
    bucket.blob(version_path(MODEL, tree.version, ONNX_FILE)).upload_from_string(files[ONNX_FILE])
    bucket.blob(version_path(MODEL, tree.version)).upload_from_string(manifest)
    return "model.onnx is not an ONNX model"


def oversize(_: storage.Bucket, tree: ModelArtifact, monkeypatch: pytest.MonkeyPatch) -> str:
    """A limit one byte below model.onnx, above every model.json."""
    limit = len(tree.files()[ONNX_FILE]) - 1
    assert len(tree.to_json()) < limit  # only model.onnx is over it
    monkeypatch.setenv("MAX_ARTIFACT_BYTES", str(limit))
    path = version_path(MODEL, tree.version, ONNX_FILE)
    return re.escape(f"{path} is larger than the {limit}-byte limit (MAX_ARTIFACT_BYTES)")


def answered_by(client, run: TrainingRun, version: int) -> None:
    """An unpinned request is answered by `version`, which predicts as `run`'s pipeline."""
    holdout = run.split.holdout.X
    response = client.post("/predict", json={"instances": holdout.tolist()})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == {"name": MODEL, "version": version}
    predictions = np.asarray(response.json()["predictions"])
    np.testing.assert_allclose(predictions, run.pipeline.predict(holdout), rtol=1e-9, atol=0)


def refresh_done() -> None:
    assert runtime.model_cache().refreshed(WAIT), "the model refresh never ended"


def logged_errors(out: str) -> list[str]:
    lines = (json.loads(line) for line in out.splitlines() if line.startswith("{"))
    return [line["message"] for line in lines if line["severity"] == "ERROR"]


@pytest.mark.parametrize("refuse", [tampered, pickled, oversize])
def test_a_refused_tree_is_a_503_pinned_and_never_replaces_the_served_version(
    refuse: Refusal, served, tree, registry, gcs, bucket, serving_env, monkeypatch, capsys
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")  # every request rereads the alias
    before = registry.register(served.artifact).version
    registry.promote(MODEL, before)
    refused = registry.register(tree)
    reason = refuse(gcs.bucket(bucket), refused, monkeypatch)
    client = function_client("predict_batch")
    answered_by(client, served, before)

    pinned = client.post(
        "/predict", params={"version": str(refused.version)}, json={"instances": [[0, 0, 0]]}
    )
    assert pinned.status_code == 503, pinned.text
    assert pinned.headers["Retry-After"]
    error = pinned.json()["error"]["message"]
    assert error.startswith(f"version {refused.version} cannot be loaded: ")
    assert re.search(reason, error), error

    registry.promote(MODEL, refused.version)
    answered_by(client, served, before)  # finds the alias moved: starts a refresh
    refresh_done()
    answered_by(client, served, before)  # the refresh refused the new version
    refresh_done()  # and the one this request started: none outlives the test
    kept = [m for m in logged_errors(capsys.readouterr().out) if "keeps serving" in m]
    assert kept, "the refused version was not logged"
    assert re.search(reason, kept[0]), kept[0]
    assert f"version {before} keeps serving" in kept[0]
