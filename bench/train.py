"""The estimator against the closed form on the first model's split: seconds and held-out R²."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.timing import median, repeat
from model.dataset import holdout_split, load_diabetes
from model.estimator import fit
from model.metrics import regression_metrics

MIN_TRIALS = 5
MIN_SECONDS = 0.5


def closed_form(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares with an intercept, by numpy's lstsq."""
    design = np.column_stack([X, np.ones(X.shape[0])])
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    return solution[:-1], float(solution[-1])


def measure() -> dict[str, Any]:
    split = holdout_split(load_diabetes())
    train, holdout = split.train, split.holdout
    fitted = fit(train.X, train.y)
    weights, bias = closed_form(train.X, train.y)
    fit_seconds = median(repeat(lambda: fit(train.X, train.y), MIN_TRIALS, MIN_SECONDS))
    closed_seconds = median(repeat(lambda: closed_form(train.X, train.y), MIN_TRIALS, MIN_SECONDS))
    return {
        "seconds": round(fit_seconds, 6),
        "r2": round(regression_metrics(holdout.y, fitted.predict(holdout.X))["r2"], 6),
        "iterations": fitted.iterations,
        "closed_form_r2": round(regression_metrics(holdout.y, holdout.X @ weights + bias)["r2"], 6),
        "closed_form_seconds": round(closed_seconds, 6),
    }
