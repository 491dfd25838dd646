"""The search: chosen on cross-validation alone, repeatable, and right about non-linear truth."""

from __future__ import annotations

import numpy as np
import pytest

from model.dataset import Dataset
from model.evaluation import CvScheme
from model.families import FamilyError
from model.search import SearchSettings, search
from model.training import Protocol, train

LINEAR = SearchSettings(("linear", "ridge", "lasso"), budget=6, time_budget=None, cv=CvScheme(3, 1))


def curved(rows: int = 400, seed: int = 0) -> Dataset:
    """A target no straight line follows: a bump in one feature, an interaction of two."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(rows, 3))
    y = 80 * np.exp(-8 * X[:, 0] ** 2) + 60 * X[:, 1] * X[:, 2] + rng.normal(0, 3, rows)
    return Dataset(("a", "b", "c"), X, y)


def scored(result) -> list[tuple]:
    return [
        (c.family, c.params, c.cross_validation.metrics["r2"].scores) for c in result.leaderboard
    ]


def test_the_same_data_and_seed_give_the_same_leaderboard():
    data = curved()
    first, second = (search(data.X, data.y, LINEAR, seed=4) for _ in range(2))
    assert scored(first) == scored(second)  # timings aside
    assert first.stopped_by == "budget"
    scores = [c.cross_validation.metrics["r2"].mean for c in first.leaderboard]
    assert scores == sorted(scores, reverse=True)


def test_on_a_non_linear_truth_a_tree_family_wins_and_the_test_split_agrees():
    settings = SearchSettings(budget=12, time_budget=None, cv=CvScheme(3, 1))
    run = train(curved(), "curved", protocol=Protocol(cv=CvScheme(3, 1)), search=settings)
    assert run.artifact.family in ("hist_gradient_boosting", "random_forest")
    linear = [c for c in run.search.leaderboard if c.family in ("linear", "ridge", "lasso")]
    best_linear = max((c.cross_validation.metrics["r2"].mean for c in linear), default=0.0)
    assert run.search.winner.cross_validation.metrics["r2"].mean > best_linear + 0.3
    assert run.evaluation["test"]["r2"] > 0.8
    reported = run.evaluation["search"]
    assert reported["optimism"] == pytest.approx(
        reported["winner_cv_r2"] - reported["winner_fresh_cv_r2"]
    )


def test_the_test_split_plays_no_part_in_the_search():
    data = curved()
    protocol = Protocol(cv=CvScheme(3, 1))
    run = train(data, "curved", protocol=protocol, search=LINEAR)
    again = search(run.split.train.X, run.split.train.y, LINEAR, seed=0)
    assert run.search.winner.params == again.winner.params


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (SearchSettings(("svm",)), r"--families \['svm'\]"),
        (SearchSettings(budget=0), "budget of at least 1"),
    ],
)
def test_impossible_searches_are_refused(settings, message):
    with pytest.raises(FamilyError, match=message):
        settings.checked()
