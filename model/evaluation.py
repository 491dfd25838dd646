"""How a candidate is scored (docs/evaluation.md): repeated k-fold cross-validation on the
rows that are not the test split, with intervals that account for the folds' overlap.

The folds of repeated k-fold share most of their training rows, so their scores are not
independent and the naive standard error understates the spread. The interval here uses
Nadeau and Bengio's corrected variance, (1/J + n_test/n_train) · s² over the J fold scores,
with Student's t: wider, and honest about how little 5×5 folds of a few hundred rows know.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.families import FamilyError, pipeline

# scikit-learn scorers: larger is better, so the errors come negated and are turned back.
_SCORERS = {"r2": "r2", "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error"}
METRICS = tuple(_SCORERS)


@dataclass(frozen=True)
class CvScheme:
    folds: int = 5
    repeats: int = 5

    @classmethod
    def parse(cls, text: str) -> CvScheme:
        """`5x5`: folds × repeats."""
        folds, sign, repeats = text.lower().partition("x")
        try:
            scheme = cls(int(folds), int(repeats) if sign else 1)
        except ValueError:
            raise FamilyError(f"--cv {text!r}: use FOLDSxREPEATS, like 5x5") from None
        if scheme.folds < 2 or scheme.repeats < 1:
            raise FamilyError(f"--cv {text!r}: at least 2 folds and 1 repeat")
        return scheme

    def splitter(self, seed: int) -> Any:
        from sklearn.model_selection import RepeatedKFold

        return RepeatedKFold(n_splits=self.folds, n_repeats=self.repeats, random_state=seed)

    def __str__(self) -> str:
        return f"{self.folds}x{self.repeats}"


@dataclass(frozen=True)
class Summary:
    """One metric over the folds: mean, standard deviation, a 95% interval of the mean."""

    mean: float
    std: float
    ci95: tuple[float, float]
    scores: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "ci95": list(self.ci95),
            "scores": list(self.scores),
        }


def summary(scores: np.ndarray, test_share: float) -> Summary:
    """`test_share`: n_test / n_train of one fold (1 / (folds - 1))."""
    from scipy import stats

    count = len(scores)
    mean, std = float(np.mean(scores)), float(np.std(scores, ddof=1)) if count > 1 else 0.0
    half = 0.0
    if count > 1:
        corrected = math.sqrt((1.0 / count + test_share) * std**2)
        half = float(stats.t.ppf(0.975, count - 1)) * corrected
    return Summary(mean, std, (mean - half, mean + half), tuple(float(s) for s in scores))


@dataclass(frozen=True)
class CrossValidation:
    scheme: CvScheme
    metrics: dict[str, Summary]  # r2, rmse, mae
    fit_seconds: float  # mean over the folds
    predict_us_per_row: float  # one fold's fitted pipeline predicting all the rows, per row

    def as_dict(self) -> dict[str, Any]:
        return {
            "folds": self.scheme.folds,
            "repeats": self.scheme.repeats,
            **{name: metric.as_dict() for name, metric in self.metrics.items()},
            "fit_seconds": self.fit_seconds,
            "predict_us_per_row": self.predict_us_per_row,
        }


def cross_validate(
    family: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray, scheme: CvScheme, seed: int
) -> CrossValidation:
    """The family's pipeline scored on every fold of `scheme` (the same folds for the same
    seed and rows, whatever the family: candidates compare on equal terms)."""
    from sklearn.model_selection import cross_validate as sklearn_cross_validate

    try:
        scores = sklearn_cross_validate(
            pipeline(family, params, seed),
            X,
            y,
            cv=scheme.splitter(seed),
            scoring=_SCORERS,
            error_score="raise",  # a refused parameter: its own message, once
            return_estimator=True,
        )
    except (ValueError, TypeError) as error:
        if isinstance(error, FamilyError):
            raise
        raise FamilyError(f"family {family}: {error}") from None
    share = 1.0 / (scheme.folds - 1)
    metrics = {}
    for name in METRICS:
        fold_scores = np.asarray(scores[f"test_{name}"], dtype=np.float64)
        metrics[name] = summary(fold_scores if name == "r2" else -fold_scores, share)
    return CrossValidation(
        scheme, metrics, float(np.mean(scores["fit_time"])), _predict_us(scores["estimator"][0], X)
    )


def _predict_us(fitted: Any, X: np.ndarray) -> float:
    """Microseconds per row of a fitted pipeline's predict on X, the best of three."""
    best = math.inf
    for _ in range(3):
        began = time.perf_counter()
        fitted.predict(X)
        best = min(best, time.perf_counter() - began)
    return best / len(X) * 1e6
