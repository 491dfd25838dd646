"""A synthetic, time-stamped data set whose relation between inputs and target drifts at a
known rate (`mlctl export --drifting`, docs/retraining.md), to try the retraining backtest on.

Inputs are stationary: every row's features are a row of the bundled diabetes data drawn at
random. The target is a plane through them plus noise, both taken from the bundled data (its
least-squares plane and residual spread: the simulation's truth, not a model). The plane's
coefficients rotate by `rate` radians per day, in the plane spanned by the bundled ones and a
seeded direction chosen so that the signal's variance never changes: on day d,

    beta(d) = cos(rate·d)·beta + sin(rate·d)·u,   u'Σu = beta'Σbeta,  u'Σbeta = 0

(Σ: the features' covariance). So the target explains as much at every day; only what it
depends on moves. Rate 0 is a stationary data set.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from model.dataset import TARGET, DatasetError, load_diabetes

DAY = "day"
DEFAULT_DAYS = 180
DEFAULT_ROWS_PER_DAY = 20


@dataclass(frozen=True)
class DriftingData:
    features: tuple[str, ...]
    day: np.ndarray  # whole days, 0 first
    X: np.ndarray
    y: np.ndarray

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow((DAY, *self.features, TARGET))
        for day, features, target in zip(
            self.day.tolist(), self.X.tolist(), self.y.tolist(), strict=True
        ):
            writer.writerow((day, *map(repr, features), repr(target)))
        return out.getvalue()


def drifting_data(
    features: tuple[str, ...],
    rate: float,
    days: int = DEFAULT_DAYS,
    rows_per_day: int = DEFAULT_ROWS_PER_DAY,
    seed: int = 0,
) -> DriftingData:
    """`rows_per_day` rows of each of `days` days; the same arguments, the same rows."""
    if len(features) < 2:
        raise DatasetError("a drifting data set needs at least 2 features to rotate between")
    if days < 1 or rows_per_day < 1:
        raise DatasetError(f"need at least 1 day and 1 row a day, got {days} and {rows_per_day}")
    base = load_diabetes(features)
    design = np.column_stack([np.ones(base.rows), base.X])
    solution, *_ = np.linalg.lstsq(design, base.y, rcond=None)
    intercept, beta = solution[0], solution[1:]
    noise = float(np.std(base.y - design @ solution))
    covariance = np.cov(base.X, rowvar=False)
    random = np.random.default_rng(seed)
    direction = _orthogonal(beta, random.standard_normal(len(features)), covariance)
    day = np.repeat(np.arange(days), rows_per_day)
    X = base.X[random.integers(0, base.rows, day.size)]
    angle = rate * day
    signal = np.cos(angle) * (X @ beta) + np.sin(angle) * (X @ direction)
    y = intercept + signal + random.normal(0.0, noise, day.size)
    return DriftingData(tuple(features), day, X, y)


def _orthogonal(beta: np.ndarray, draw: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """`draw` made Σ-orthogonal to `beta` and as long as it in Σ's norm."""
    inner = draw @ covariance @ beta / (beta @ covariance @ beta)
    direction = draw - inner * beta
    scale = float(np.sqrt((beta @ covariance @ beta) / (direction @ covariance @ direction)))
    return np.asarray(direction * scale)
