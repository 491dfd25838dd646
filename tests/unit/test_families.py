"""Every family trained through scikit-learn and served from its artifact as the pipeline
predicts; the settings a family refuses (docs/training.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.artifact import ONNX_FILE, from_json
from model.dataset import Dataset, load_diabetes
from model.estimator import TrainingSpec
from model.evaluation import CvScheme
from model.families import FAMILIES, FamilyError, parse_params
from model.training import Protocol, train
from tests.artifacts import TOLERANCE

FEATURES = ("bmi", "bp", "s5")
QUICK = Protocol(cv=CvScheme(2, 1))  # cross-validation is not what these tests are about


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def run(request):
    return train(load_diabetes(FEATURES), "many", TrainingSpec(request.param, seed=3), QUICK)


def test_the_loaded_artifact_predicts_what_the_pipeline_does(run):
    files = run.artifact.files()
    loaded = from_json(run.artifact.with_version(2).to_json(), files.__getitem__)
    holdout = run.split.holdout.X
    expected = run.pipeline.predict(holdout)
    served = loaded.predict(holdout)
    assert served.dtype == np.float64
    np.testing.assert_allclose(served, expected, rtol=TOLERANCE[loaded.format], atol=0)
    assert (loaded.family, loaded.features) == (run.artifact.family, FEATURES)
    assert set(loaded.reference) == set(FEATURES)  # drift monitoring's reference, every family


def test_a_row_predicts_the_same_alone_as_in_any_batch(run):
    # Batch scoring and /predict batch rows differently; neither may change a row's answer.
    rows = np.random.default_rng(5).uniform(-0.1, 0.1, size=(500, len(FEATURES)))
    whole = run.artifact.predict(rows)
    alone = np.concatenate([run.artifact.predict(rows[i : i + 1]) for i in range(len(rows))])
    assert alone.tobytes() == whole.tobytes()


def test_the_same_data_and_settings_give_the_same_artifact(run):
    spec = TrainingSpec(run.artifact.family, seed=3)
    again = train(load_diabetes(FEATURES), "many", spec, QUICK).artifact
    assert again.predictor.manifest() == run.artifact.predictor.manifest()
    assert again.files() == run.artifact.files()


def test_the_linear_families_are_weights_and_the_trees_a_graph(run):
    document = json.loads(run.artifact.to_json())
    assert document["family"] == run.artifact.family
    assert "sklearn" not in json.dumps(document["params"])
    if FAMILIES[run.artifact.family].linear:
        assert document["format"] == "linear-json"
        assert len(document["weights"]) == len(FEATURES)
        assert run.artifact.files() == {}
    else:
        assert document["format"] == "onnx"
        assert set(document["files"]) == {ONNX_FILE}
        assert set(document["libraries"]) >= {"scikit-learn", "skl2onnx", "onnxruntime"}


def test_the_seeds_model_scores_as_before_on_its_last_rows():
    last_rows = Protocol(test_rows=20, cv=CvScheme(2, 1))
    artifact = train(load_diabetes(), "diabetes-bmi", protocol=last_rows).artifact
    assert artifact.family == "linear"
    assert artifact.metrics["r2"] == pytest.approx(0.4726, abs=1e-4)


@pytest.mark.parametrize("family", ["hist_gradient_boosting", "random_forest"])
def test_trees_take_scikit_learns_branches_between_values_a_float32_step_apart(family):
    """Values one float32 step apart, and pairs one float64 step apart, are where a float32
    threshold rounded to the nearest would send a row down the other branch."""
    rng = np.random.default_rng(5)
    base = rng.normal(0, 0.05, 150).astype(np.float32)
    up = np.nextafter(base, np.float32(np.inf))
    column = np.concatenate([base, up]).astype(np.float64)
    column = np.concatenate([column, np.nextafter(column, np.inf)])
    data = Dataset(("x",), column.reshape(-1, 1), rng.normal(100, 30, len(column)))
    run = train(data, "steps", TrainingSpec(family), Protocol(test_rows=60, cv=CvScheme(2, 1)))
    X = data.X
    np.testing.assert_allclose(run.artifact.predict(X), run.pipeline.predict(X), rtol=1e-5)


def test_parameters_reach_the_estimator():
    spec = TrainingSpec("hist_gradient_boosting", {"max_iter": 5, "max_depth": 2})
    run = train(load_diabetes(FEATURES), "many", spec)
    assert run.pipeline.named_steps["estimator"].max_iter == 5
    assert run.artifact.params == {"max_iter": 5, "max_depth": 2}


@pytest.mark.parametrize(
    ("family", "params", "message"),
    [
        ("svm", {}, "unknown family 'svm': use one of linear, ridge"),
        ("ridge", {"depth": 3}, "family ridge: unknown parameter 'depth'; its parameters are"),
        ("ridge", {"random_state": 3}, "parameter 'random_state' is set by the platform"),
        ("lasso", {"alpha": -1}, "family lasso: The 'alpha' parameter"),
        ("random_forest", {"n_estimators": "many"}, "family random_forest: The 'n_estimators'"),
    ],
)
def test_a_setting_scikit_learn_would_refuse_names_itself(family, params, message):
    with pytest.raises(FamilyError, match=message):
        train(load_diabetes(FEATURES), "many", TrainingSpec(family, params))


def test_parameters_are_read_as_json_values_else_strings():
    assert parse_params(["alpha=0.5", "max_depth=null", "fit_intercept=false", "loss=huber"]) == {
        "alpha": 0.5,
        "max_depth": None,
        "fit_intercept": False,
        "loss": "huber",
    }
    with pytest.raises(FamilyError, match="KEY=VALUE"):
        parse_params(["alpha"])
