"""A version's report (docs/evaluation.md, "A report"): report.png's layouts, the learning
curve on the fewest rows training accepts, the leaderboard's rows."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from model.evaluation import CvScheme
from model.leaderboard import entries, rows, short_params
from model.learning_curve import MIN_SIZE, LearningCurve, learning_curve
from model.report_plot import ReportFigures, report_png
from model.validation import MIN_ROWS

CURVE = LearningCurve(2, (10, 40), (0.9, 0.6), (0.05, 0.02), (-3.0, 0.5), (1.0, 0.1))
ROW = ("1", "ridge", "alpha=1", "0.5000 ± 0.0100", "0.001", "0.6")


def png_size(figures: ReportFigures) -> tuple[int, int]:
    with Image.open(io.BytesIO(report_png(figures))) as image:
        assert image.format == "PNG"
        return image.size


@pytest.mark.parametrize(
    ("panels", "size"),
    [
        # An attempt that died left no run: the test split's two panels only.
        ({}, (1200, 450)),
        # Without a search: the model's folds and its learning curve under them.
        ({"fold_scores": [("1. ridge", [0.4, 0.5])], "learning_curve": CURVE}, (1200, 900)),
        # After a search: the leaderboard's table at the bottom as well.
        (
            {
                "fold_scores": [("1. ridge", [0.4, 0.5])],
                "learning_curve": CURVE,
                "leaderboard": [ROW],
            },
            (1200, 1160),
        ),
    ],
)
def test_report_png_draws_the_panels_it_has_data_for(panels, size):
    actual = np.linspace(50.0, 300.0, 40)
    figures = ReportFigures("m version 1", actual, actual + 10.0, "2x1", **panels)
    assert png_size(figures) == size


def test_the_learning_curve_holds_on_the_fewest_rows_training_accepts():
    rng = np.random.default_rng(0)
    rows_left = MIN_ROWS - 6  # the test split taken: what cross-validation gets
    X = rng.normal(size=(rows_left, 3))
    y = X @ np.array([3.0, -2.0, 1.0]) + rng.normal(0.0, 0.1, rows_left)
    curve = learning_curve("linear", {}, X, y, CvScheme(5, 1), seed=0)
    assert curve.sizes[0] == MIN_SIZE  # 10% would be 2 rows
    assert curve.sizes[-1] == rows_left - 5  # the smallest fold's training rows
    assert list(curve.sizes) == sorted(set(curve.sizes))
    assert len(curve.validation_r2) == len(curve.train_r2) == len(curve.sizes)
    assert curve.validation_r2[-1] > 0.9  # a linear target, learned


def test_a_version_without_a_search_has_its_one_model_as_leaderboard():
    report = {
        "lineage": {"parameters": {"family": "ridge", "params": {"alpha": 0.123456}}},
        "evaluation": {
            "cv": {
                "r2": {"mean": 0.4, "std": 0.05, "scores": [0.35, 0.45]},
                "fit_seconds": 0.0012,
                "predict_us_per_row": 0.61,
            }
        },
    }
    assert rows(entries(report)) == [
        ("1", "ridge", "alpha=0.123", "0.4000 ± 0.0500", "0.0012", "0.61")
    ]
    assert entries({"evaluation": None}) == []  # an attempt that died: nothing to rank


def test_short_params_are_sorted_and_rounded():
    assert short_params({"max_iter": 120, "learning_rate": 0.052345}) == (
        "learning_rate=0.0523, max_iter=120"
    )
    assert short_params({}) == "-"
