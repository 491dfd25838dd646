"""Every model family trained, registered in the emulator bucket and served by both functions:
HTTP and the stream answer as the fitted scikit-learn pipeline predicts on the held-out rows,
within the tolerance of the artifact's format (tests/artifacts.py)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from functions.serving import stream
from infra.names import MODEL_NAME as MODEL
from model.artifact import ModelArtifact
from model.dataset import load_diabetes
from model.estimator import TrainingSpec
from model.families import FAMILIES
from model.promotion import gate_and_promote, read_production
from model.registry import Registry
from model.training import TrainingRun, train
from tests.artifacts import TOLERANCE
from tests.clients import function_client
from tests.pubsub_helpers import message, push_event

pytestmark = pytest.mark.emulators
FEATURES = ("bmi", "bp", "s5")
# Small settings, so each family fits in milliseconds; each passes the gate with them.
SPECS = {
    "linear": TrainingSpec("linear"),
    "ridge": TrainingSpec("ridge", {"alpha": 0.5}),
    "lasso": TrainingSpec("lasso", {"alpha": 0.1}),
    "elastic_net": TrainingSpec("elastic_net", {"alpha": 0.1, "l1_ratio": 0.5}),
    "hist_gradient_boosting": TrainingSpec(
        "hist_gradient_boosting", {"max_iter": 50, "max_depth": 3}
    ),
    "random_forest": TrainingSpec("random_forest", {"n_estimators": 20, "max_depth": 4}),
}


@pytest.fixture(scope="module", params=sorted(SPECS))
def run(request: pytest.FixtureRequest) -> TrainingRun:
    """Each family trained once for the module."""
    return train(load_diabetes(FEATURES), MODEL, SPECS[request.param])


@pytest.fixture
def registered(registry: Registry, run: TrainingRun) -> ModelArtifact:
    return registry.register(run.artifact)


@pytest.fixture
def client(serving_env, repository_root):
    return function_client("predict_batch")


def as_lists(run: TrainingRun) -> list[list[float]]:
    return run.split.holdout.X.tolist()


def as_objects(run: TrainingRun) -> list[dict[str, float]]:
    """The rows keyed by feature name, the keys in reverse order: read by name, not place."""
    return [dict(reversed(list(zip(FEATURES, row, strict=True)))) for row in as_lists(run)]


def assert_as_the_pipeline(predictions: list[float], run: TrainingRun) -> None:
    expected = run.pipeline.predict(run.split.holdout.X)
    rtol = TOLERANCE[run.artifact.format]
    np.testing.assert_allclose(np.asarray(predictions), expected, rtol=rtol, atol=0)


def http_predictions(client, instances: list[Any], version: int, pinned: bool) -> list[float]:
    params = {"version": str(version)} if pinned else {}
    response = client.post("/predict", params=params, json={"instances": instances})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": MODEL, "version": version}
    predictions: list[float] = body["predictions"]
    return predictions


def stream_predictions(
    results, requests: dict[str, list[Any]], version: int, pinned: bool
) -> dict[str, list[float]]:
    """Each request id's instances through predict_stream; its predictions by request id."""
    selector = {"version": str(version)} if pinned else {}
    for request_id, instances in requests.items():
        body = json.dumps({"instances": instances}).encode()
        stream.handle(push_event(message(body, {"request_id": request_id, **selector})))
    answers = {}
    for result in results(count=len(requests)):
        data = json.loads(result.data)
        assert (data["status"], data["model"]["version"]) == ("ok", version), data
        assert result.attributes["model_version"] == str(version)
        answers[result.attributes["request_id"]] = data["predictions"]
    assert set(answers) == set(requests)
    return answers


def test_every_family_is_served_here():
    assert set(SPECS) == set(FAMILIES)


def test_http_pinned_to_the_version_answers_as_the_pipeline(client, run, registered):
    for instances in (as_lists(run), as_objects(run)):
        assert_as_the_pipeline(http_predictions(client, instances, registered.version, True), run)


def test_the_stream_pinned_to_the_version_answers_as_the_pipeline(results, run, registered):
    requests = {"lists": as_lists(run), "objects": as_objects(run)}
    answers = stream_predictions(results, requests, registered.version, pinned=True)
    for predictions in answers.values():
        assert_as_the_pipeline(predictions, run)


def test_through_the_gate_it_is_promoted_and_serves_unpinned(
    client, results, registry, run, registered
):
    holdout = run.split.holdout
    production = read_production(registry, MODEL)
    promotion = gate_and_promote(registry, registered, holdout, production)
    assert promotion.promoted, promotion.decision.reasons
    assert registry.aliases(MODEL) == {"production": registered.version}
    assert_as_the_pipeline(http_predictions(client, as_lists(run), registered.version, False), run)
    answers = stream_predictions(results, {"unpinned": as_objects(run)}, registered.version, False)
    assert_as_the_pipeline(answers["unpinned"], run)


def test_the_model_route_names_its_family_params_and_format(client, run, registered):
    response = client.get("/model", params={"version": str(registered.version)})
    assert response.status_code == 200, response.text
    description = response.json()
    family = run.artifact.family
    assert description["version"] == registered.version
    assert description["family"] == family
    assert description["params"] == dict(SPECS[family].params)
    assert description["features"] == list(FEATURES)
    assert description["format"] == ("linear-json" if FAMILIES[family].linear else "onnx")


@pytest.mark.parametrize(
    ("instance", "message_part"),
    [
        ([0.01, 0.02], "instances[0]: expected 3 values ['bmi', 'bp', 's5'], got 2"),
        (
            {"bmi": 0.01, "bp": 0.02},
            "instances[0]: missing features ['s5'], expected ['bmi', 'bp', 's5']",
        ),
    ],
    ids=["wrong-count", "missing-name"],
)
def test_a_wrong_instance_is_told_the_features_the_model_expects(
    client, registry, instance, message_part
):
    version = registry.register(train(load_diabetes(FEATURES), MODEL).artifact).version
    response = client.post(
        "/predict", params={"version": str(version)}, json={"instances": [instance]}
    )
    assert response.status_code == 400, response.text
    assert message_part in response.json()["error"]["message"]
