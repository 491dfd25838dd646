"""The search, timed and checked: on the diabetes data against families tuned by hand, and on
synthetic data of 10,000 and 100,000 rows within a time budget per point.

A search stops starting candidates when its time budget is spent; the candidate in flight
finishes, so `seconds` may pass the budget by one candidate's folds.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from model.dataset import DIABETES_FEATURES, load_diabetes, seeded_split
from model.evaluation import CvScheme, cross_validate
from model.search import SearchSettings, search

ALL_DIABETES = DIABETES_FEATURES
# Rows, time budget and folds of each synthetic point (5x5 at 100,000 rows would spend the
# budget on the first forest alone), and its families: at 100,000 rows one candidate of the
# random forest's space (up to 200 trees 16 deep, on each fold) takes minutes, past any
# budget a bench can give a point, so that point searches the other five.
ALL_FAMILIES = SearchSettings().families
WITHOUT_FOREST = tuple(name for name in ALL_FAMILIES if name != "random_forest")
SYNTHETIC = (
    (10_000, 60.0, CvScheme(5, 1), ALL_FAMILIES),
    (100_000, 120.0, CvScheme(3, 1), WITHOUT_FOREST),
)
# The hand-tuned references: the grids a person would try first.
BY_HAND: dict[str, list[dict[str, Any]]] = {
    "ridge": [{"alpha": float(alpha)} for alpha in np.logspace(-3, 3, 13)],
    "lasso": [{"alpha": float(alpha)} for alpha in np.logspace(-3, 2, 11)],
    "hist_gradient_boosting": [
        {"learning_rate": rate, "max_leaf_nodes": leaves, "min_samples_leaf": 20}
        for rate in (0.03, 0.1)
        for leaves in (4, 8, 31)
    ],
}


def measure() -> dict[str, Any]:
    return {"diabetes": _diabetes(), "synthetic": [_synthetic(*point) for point in SYNTHETIC]}


def _diabetes() -> dict[str, Any]:
    """The default search on the rows `mlctl train --search` searches, against the best of
    each hand-tuned family on the same folds."""
    split = seeded_split(load_diabetes(ALL_DIABETES), 0.2, 0)
    X, y = split.train.X, split.train.y
    began = time.monotonic()
    result = search(X, y, SearchSettings(), seed=0)
    seconds = time.monotonic() - began
    by_hand = {
        family: max(
            cross_validate(family, params, X, y, CvScheme(), 0).metrics["r2"].mean
            for params in grid
        )
        for family, grid in BY_HAND.items()
    }
    winner = result.winner.cross_validation.metrics["r2"].mean
    return {
        "rows": len(y),
        "features": len(ALL_DIABETES),
        **result.as_dict(),
        "seconds": round(seconds, 3),
        "winner": {"family": result.winner.family, "params": result.winner.params},
        "by_hand_cv_r2": by_hand,
        "winner_minus_best_by_hand": winner - max(by_hand.values()),
    }


def _synthetic(
    rows: int, time_budget: float, cv: CvScheme, families: tuple[str, ...]
) -> dict[str, Any]:
    rng = np.random.default_rng(rows)
    X = rng.normal(size=(rows, 10))
    y = X @ rng.normal(size=10) * 10 + 5 * np.sin(3 * X[:, 0]) + rng.normal(0, 2, rows)
    settings = SearchSettings(families, time_budget=time_budget, cv=cv)
    began = time.monotonic()
    result = search(X, y, settings, seed=0)
    return {
        "rows": rows,
        **result.as_dict(),
        "seconds": round(time.monotonic() - began, 3),
        "winner": {"family": result.winner.family, "params": result.winner.params},
    }
