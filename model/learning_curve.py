"""The learning curve of a run's model (report.json's `evaluation.learning_curve`, report.png):
R² on the rows it learned from and on rows it did not, as its training rows grow. Far apart
at the largest size, more rows would still help; close together and low, the family is too
simple for the data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.evaluation import CvScheme
from model.families import FamilyError, pipeline

# Shares of a fold's training rows. Cost: 5 sizes × the scheme's folds (one repeat), each on
# 55% of the rows on average: with the default 5×5 scheme about half of what the
# cross-validation already spent, and a small share of a search's.
SHARES = (0.1, 0.325, 0.55, 0.775, 1.0)
# Fewer rows than this say nothing about the family, and may leave a constant target.
MIN_SIZE = 5


@dataclass(frozen=True)
class LearningCurve:
    folds: int
    sizes: tuple[int, ...]  # training rows
    train_r2: tuple[float, ...]  # mean over the folds, per size
    train_r2_std: tuple[float, ...]
    validation_r2: tuple[float, ...]
    validation_r2_std: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            "sizes": list(self.sizes),
            "train_r2_mean": list(self.train_r2),
            "train_r2_std": list(self.train_r2_std),
            "validation_r2_mean": list(self.validation_r2),
            "validation_r2_std": list(self.validation_r2_std),
        }


def learning_curve(
    family: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray, scheme: CvScheme, seed: int
) -> LearningCurve:
    """The family's pipeline on growing shares of each fold's training rows (one repeat of
    `scheme`'s folds), scored on the fold's other rows."""
    from sklearn.model_selection import KFold
    from sklearn.model_selection import learning_curve as sklearn_learning_curve

    try:
        sizes, train, validation = sklearn_learning_curve(
            pipeline(family, params, seed),
            X,
            y,
            train_sizes=_sizes(len(X), scheme.folds),
            cv=KFold(n_splits=scheme.folds, shuffle=True, random_state=seed),
            scoring="r2",
            shuffle=True,  # the first rows of a file may be its oldest: draw them at random
            random_state=seed,
            error_score="raise",
        )
    except (ValueError, TypeError) as error:
        if isinstance(error, FamilyError):
            raise
        raise FamilyError(f"family {family}: {error}") from None
    return LearningCurve(
        scheme.folds,
        tuple(int(size) for size in sizes),
        *_mean_std(train),
        *_mean_std(validation),
    )


def _sizes(rows: int, folds: int) -> list[int]:
    """SHARES of the smallest fold's training rows, at least MIN_SIZE, each once."""
    largest = rows - math.ceil(rows / folds)
    return sorted({min(largest, max(MIN_SIZE, round(share * largest))) for share in SHARES})


def _mean_std(scores: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per size (a row of `scores`), over the folds."""
    return (
        tuple(float(value) for value in scores.mean(axis=1)),
        tuple(float(value) for value in scores.std(axis=1)),
    )
