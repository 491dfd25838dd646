"""Training each family on the first model's split: seconds to fit and export, held-out R²."""

from __future__ import annotations

import functools
from typing import Any

from bench.timing import median, repeat
from model.dataset import holdout_split, load_diabetes
from model.estimator import TrainingSpec, fit
from model.families import FAMILIES
from model.metrics import regression_metrics

MIN_TRIALS = 3
MIN_SECONDS = 0.5


def measure() -> dict[str, Any]:
    split = holdout_split(load_diabetes())
    train, holdout = split.train, split.holdout
    results = {}
    for family in FAMILIES:
        spec = TrainingSpec(family)
        fitted = fit(train.X, train.y, spec)
        seconds = median(
            repeat(functools.partial(fit, train.X, train.y, spec), MIN_TRIALS, MIN_SECONDS)
        )
        r2 = regression_metrics(holdout.y, fitted.predictor.predict(holdout.X))["r2"]
        results[family] = {"seconds": round(seconds, 6), "r2": round(r2, 6)}
    return results
