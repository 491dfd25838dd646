"""Many models on one deployment: chosen by name, listed, bounded, allow-listed (docs/http.md)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from functions.platform import runtime
from functions.serving import stream
from infra.names import MODEL_NAME as MODEL
from model.artifact import ModelArtifact
from model.dataset import load_diabetes
from model.estimator import TrainingSpec
from model.registry import Registry
from model.training import train
from tests.clients import function_client
from tests.pubsub_helpers import message, push_event

pytestmark = pytest.mark.emulators
TREES = "diabetes-trees"
FEATURES = ("age", "bmi", "bp")


@pytest.fixture(scope="module")
def tree_artifact() -> ModelArtifact:
    spec = TrainingSpec("hist_gradient_boosting", {"max_iter": 20, "max_depth": 3})
    return train(load_diabetes(FEATURES), TREES, spec).artifact


def registered(registry: Registry, artifact: ModelArtifact, promote: bool = True) -> ModelArtifact:
    model = registry.register(artifact)
    if promote:
        registry.promote(model.name, model.version)
    return model


@pytest.fixture
def client(serving_env, repository_root):
    return function_client("predict_batch")


def test_each_model_answers_by_name_on_every_route(client, registry, production, tree_artifact):
    trees = registered(registry, tree_artifact)
    row = {"age": 0.01, "bmi": 0.05, "bp": -0.02}
    expected = float(trees.predict(np.array([[row[name] for name in FEATURES]]))[0])

    answer = client.post("/predict?model=" + TREES, json={"instances": [row]}).json()
    assert answer["model"] == {"name": TREES, "version": 1}
    assert answer["predictions"] == pytest.approx([expected], rel=1e-6)
    legacy = client.get("/batch/[[0.01,0.05,-0.02]]", params={"model": TREES}).json()
    assert legacy["predictions"] == answer["predictions"]
    described = client.get("/model", params={"model": TREES}).json()
    assert (described["family"], described["features"]) == ("hist_gradient_boosting", [*FEATURES])
    # Without ?model=, the default model serves, as the seed's URLs always did.
    assert client.get("/stream/0.5").json()["model"] == {"name": MODEL, "version": 1}


def test_models_lists_each_model_with_its_production_version(
    client, registry, production, tree_artifact
):
    registered(registry, tree_artifact, promote=False)
    listed = client.get("/models").json()
    assert listed == {
        "default": MODEL,
        "models": [{"name": MODEL, "version": 1}, {"name": TREES, "version": None}],
    }
    # Registered but not promoted: a 503 until it is, not a 404.
    assert client.get("/model", params={"model": TREES}).status_code == 503


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("no-such-model", 404, "model 'no-such-model' has no version in the registry"),
        ("../models", 400, "model '../models': use letters"),
    ],
)
def test_an_unknown_or_malformed_model_is_a_client_error(client, production, name, code, message):
    for response in (
        client.post("/predict", params={"model": name}, json={"instances": [[0.5]]}),
        client.get("/model", params={"model": name}),
    ):
        assert response.status_code == code
        assert message in response.json()["error"]["message"]


def test_the_allow_list_limits_what_is_served(
    client, registry, production, trained_artifact, tree_artifact, monkeypatch
):
    registered(registry, tree_artifact)
    registered(registry, replace(trained_artifact, name="other"))
    monkeypatch.setenv("SERVED_MODELS", TREES)
    runtime.reset()
    response = client.post("/predict", params={"model": "other"}, json={"instances": [[0.5]]})
    assert response.status_code == 404
    assert f"use one of {MODEL}, {TREES}" in response.json()["error"]["message"]
    # The default model is served whatever the list says: unpinned URLs keep working.
    assert client.get("/stream/0.5").status_code == 200
    assert [model["name"] for model in client.get("/models").json()["models"]] == [MODEL, TREES]


def test_a_declared_oversize_infer_body_is_a_413(client, production, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", "100")
    runtime.reset()
    body = b'{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 1], "data": [0.5]}]}' * 2
    response = client.post(f"/v2/models/{MODEL}/infer", content=body)
    assert response.status_code == 413
    assert "over the limit of 100 bytes" in response.json()["error"]


def test_the_least_recently_used_model_leaves_first(
    client, registry, production, trained_artifact, monkeypatch
):
    others = ("second", "third")
    for name in others:
        registered(registry, replace(trained_artifact, name=name))
    monkeypatch.setenv("MAX_LOADED_MODELS", "2")
    runtime.reset()
    for name in (MODEL, *others, MODEL):
        answer = client.post("/predict", params={"model": name}, json={"instances": [[0.5]]})
        assert answer.json()["model"] == {"name": name, "version": 1}
    assert runtime.model_shelf().loaded() == ["third", MODEL]


def test_a_stream_request_names_its_model_and_its_result_says_which_answered(
    results, registry, production, tree_artifact
):
    trees = registered(registry, tree_artifact)
    body = b'{"instances": [[0.01, 0.05, -0.02]]}'
    stream.handle(push_event(message(body, {"request_id": "t-1", "model": TREES})))
    (result,) = results()
    data = json.loads(result.data)
    assert data["model"] == {"name": TREES, "version": 1}
    assert dict(result.attributes)["model"] == TREES
    expected = trees.predict(np.array([[0.01, 0.05, -0.02]]))
    assert data["predictions"] == pytest.approx(expected.tolist(), rel=1e-6)


def test_each_model_follows_its_own_alias(client, registry, production, tree_artifact, monkeypatch):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    runtime.reset()
    registered(registry, tree_artifact)
    second = registered(registry, tree_artifact, promote=False)

    def served() -> int:
        answer = client.post("/predict", params={"model": TREES}, json={"instances": [[0, 0, 0]]})
        assert runtime.model_cache(TREES).refreshed(10.0)  # the refresh it started, if any
        return int(answer.json()["model"]["version"])

    assert served() == 1
    registry.promote(TREES, second.version)
    served()  # finds the alias due and refreshes it in the background
    assert served() == second.version
    assert client.get("/model").json()["version"] == 1  # the default model did not move
