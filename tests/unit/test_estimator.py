from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

from model.dataset import holdout_split, load_diabetes
from model.estimator import TrainingParameters, fit
from model.metrics import regression_metrics

ALL_DIABETES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def closed_form_r2(features: tuple[str, ...]) -> float:
    split = holdout_split(load_diabetes(features))
    reference = LinearRegression().fit(split.train.X, split.train.y)
    return regression_metrics(split.holdout.y, reference.predict(split.holdout.X))["r2"]


def trained_r2(features: tuple[str, ...]) -> float:
    split = holdout_split(load_diabetes(features))
    fitted = fit(split.train.X, split.train.y)
    return regression_metrics(split.holdout.y, fitted.predict(split.holdout.X))["r2"]


def test_the_last_rows_split_matches_the_closed_form_and_passes_the_gate_bar():
    r2 = trained_r2(("bmi",))
    assert abs(r2 - closed_form_r2(("bmi",))) < 0.001
    assert abs(r2 - 0.4726) < 0.001
    assert r2 >= 0.4


def test_correlated_features_still_reach_the_closed_form():
    # s1 and s2 are strongly correlated: plain gradient descent would stall here.
    assert abs(trained_r2(ALL_DIABETES) - closed_form_r2(ALL_DIABETES)) < 0.001


def test_same_data_and_seed_give_the_same_weights():
    split = holdout_split(load_diabetes(ALL_DIABETES))
    params = TrainingParameters(seed=7)
    first = fit(split.train.X, split.train.y, params)
    second = fit(split.train.X, split.train.y, params)
    assert np.array_equal(first.weights, second.weights)
    assert first.bias == second.bias


def test_iteration_cap_stops_without_claiming_convergence():
    split = holdout_split(load_diabetes(ALL_DIABETES))
    fitted = fit(split.train.X, split.train.y, TrainingParameters(max_iterations=3))
    assert fitted.iterations == 3
    assert not fitted.converged


def test_constant_column_does_not_divide_by_zero():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=200), np.full(200, 3.0)])
    y = 2.0 * X[:, 0] + 1.0
    fitted = fit(X, y)
    assert np.allclose(fitted.predict(X), y, atol=1e-6)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        fit(np.zeros((3, 1)), np.zeros(4))


@settings(max_examples=40, deadline=None)
@given(
    coefficients=st.lists(
        st.floats(min_value=-50, max_value=50, allow_nan=False), min_size=1, max_size=6
    ),
    intercept=st.floats(min_value=-100, max_value=100, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_recovers_known_coefficients_of_synthetic_data(coefficients, intercept, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=rng.uniform(-5, 5, len(coefficients)), size=(300, len(coefficients)))
    y = X @ np.array(coefficients) + intercept
    fitted = fit(X, y, TrainingParameters(seed=seed))
    raw_weights = fitted.weights / fitted.scale
    raw_bias = fitted.bias - fitted.mean @ raw_weights
    assert fitted.converged
    assert np.allclose(raw_weights, coefficients, atol=1e-5)
    assert raw_bias == pytest.approx(intercept, abs=1e-4)
