"""How often to retrain: a rolling-origin backtest over time-stamped rows (docs/retraining.md).

Time is cut into whole days. At the start of every day after the first `window_days`, a
model is fitted on the rows of the trailing window (the `window_days` days before it, not all
past rows: under drift old rows teach an old relation, and a fixed window gives every
retraining the same amount of data, so only the model's age differs) and predicts the rows of
the days that follow. From those fits:

- the curve: error by model age (day 0 is a model's first day), pooled over every day's model;
- per candidate interval I: the models of every I-th day only, each scoring its I days. Every
  interval scores the same rows, so their errors compare directly with the baseline, the
  shortest interval (a model retrained every day, always fresh).

The recommendation is the longest interval whose RMSE, and every shorter interval's, stays
within `tolerance` of the baseline's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from model.dataset import DatasetError
from model.estimator import TrainingSpec
from model.families import fit_pipeline, pipeline
from model.timed_rows import TimedRows
from model.training import TRAINING_THREADS

DEFAULT_INTERVALS = (1, 2, 3, 7, 14, 30, 60, 90)
DEFAULT_WINDOW_DAYS = 30
DEFAULT_TOLERANCE = 0.05
# An interval needs this many retrainings in the evaluated days to say anything.
MIN_PERIODS = 2


@dataclass(frozen=True)
class BacktestSettings:
    intervals: tuple[int, ...] = DEFAULT_INTERVALS  # days between retrainings, candidates
    window_days: int = DEFAULT_WINDOW_DAYS  # the trailing window each model is fitted on
    tolerance: float = DEFAULT_TOLERANCE  # RMSE may exceed the baseline's by this share

    def checked(self) -> BacktestSettings:
        if not self.intervals or min(self.intervals) < 1:
            raise ValueError(f"intervals {list(self.intervals)}: whole days, at least 1")
        if self.window_days < 1:
            raise ValueError(f"window {self.window_days} days: at least 1")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance {self.tolerance}: a share in [0, 1), like 0.05")
        return self


@dataclass(frozen=True)
class AgePoint:
    """Error of models `age_days` old, over the `n` days' models that reached that age."""

    age_days: int
    rmse: float
    mae: float
    ci95: tuple[float, float]  # of the RMSE, over the folds
    n: int  # folds: one per retraining day with rows at this age
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "age_days": self.age_days,
            "rmse": self.rmse,
            "mae": self.mae,
            "ci95": list(self.ci95),
            "n": self.n,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class IntervalResult:
    interval_days: int
    retrainings: int
    rmse: float
    mae: float
    rows: int
    rmse_ratio: float  # to the baseline's RMSE
    within_tolerance: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Backtest:
    settings: BacktestSettings
    spec: TrainingSpec
    features: tuple[str, ...]
    rows: int
    time_format: str
    first_day: str
    last_day: str
    evaluated_days: int  # days scored: after the first window
    intervals: tuple[IntervalResult, ...]
    dropped_intervals: tuple[int, ...]  # too long for the evaluated days
    curve: tuple[AgePoint, ...]
    recommended_interval_days: int

    @property
    def baseline(self) -> IntervalResult:
        return self.intervals[0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.spec.family,
            "params": dict(self.spec.params),
            "features": list(self.features),
            "rows": self.rows,
            "time_format": self.time_format,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "window_days": self.settings.window_days,
            "evaluated_days": self.evaluated_days,
            "tolerance": self.settings.tolerance,
            "baseline_interval_days": self.baseline.interval_days,
            "intervals": [result.as_dict() for result in self.intervals],
            "dropped_intervals": list(self.dropped_intervals),
            "recommended_interval_days": self.recommended_interval_days,
            "curve": [point.as_dict() for point in self.curve],
        }


@dataclass(frozen=True)
class _Forecasts:
    """Each retraining day's model's errors on the rows of the days after it."""

    day: np.ndarray  # whole day of each row, 0 = the first row's
    first_origin: int
    last_day: int
    start: dict[int, int]  # origin -> index of its first scored row
    errors: dict[int, np.ndarray]  # origin -> actual - predicted, from `start` on

    def of(self, origin: int, first: int, stop: int) -> np.ndarray:
        """Errors of `origin`'s model on the rows of days first <= day < stop."""
        lo, hi = np.searchsorted(self.day, (first, stop))
        return self.errors[origin][lo - self.start[origin] : hi - self.start[origin]]


def backtest(
    rows: TimedRows, spec: TrainingSpec, settings: BacktestSettings | None = None
) -> Backtest:
    """The rolling-origin backtest of `spec`'s family on `rows`; DatasetError when the rows
    span too few days for the window and two retrainings."""
    settings = (settings or BacktestSettings()).checked()
    day = np.floor(rows.days).astype(np.int64)
    first = int(day[0])
    day -= first
    last_day = int(day[-1])
    evaluated = last_day - settings.window_days + 1
    kept = sorted({i for i in settings.intervals if i * MIN_PERIODS <= evaluated})
    if not kept:
        raise DatasetError(
            f"the rows span {last_day + 1} days: the {settings.window_days}-day window and "
            f"{MIN_PERIODS} retrainings of the shortest interval ({min(settings.intervals)} "
            f"days) need {settings.window_days + MIN_PERIODS * min(settings.intervals)}"
        )
    forecasts = _forecasts(rows, day, first, spec, settings.window_days, horizon=max(kept))
    results = _intervals(forecasts, kept, settings.tolerance)
    return Backtest(
        settings,
        spec,
        rows.features,
        rows.rows,
        rows.time_format,
        rows.day_label(first),
        rows.day_label(first + last_day),
        evaluated,
        results,
        tuple(sorted(set(settings.intervals) - set(kept))),
        _curve(forecasts, max(kept)),
        _recommended(results),
    )


def _forecasts(
    rows: TimedRows, day: np.ndarray, first: int, spec: TrainingSpec, window: int, horizon: int
) -> _Forecasts:
    """One fit per day from `window` on, each scoring the next `horizon` days."""
    last_day = int(day[-1])
    start: dict[int, int] = {}
    errors: dict[int, np.ndarray] = {}
    minimum = len(rows.features) + 2  # fewer cannot fit a line and leave a residual
    with threadpool_limits(TRAINING_THREADS):
        for origin in range(window, last_day + 1):
            lo, mid, hi = np.searchsorted(day, (origin - window, origin, origin + horizon))
            if mid - lo < minimum:
                raise DatasetError(
                    f"the {window} days before day {rows.day_label(first + origin)} hold "
                    f"{mid - lo} rows, fewer than {minimum}: lengthen the window"
                )
            model = fit_pipeline(
                pipeline(spec.family, spec.params, spec.seed),
                rows.X[lo:mid],
                rows.y[lo:mid],
                spec.family,
            )
            start[origin] = int(mid)
            # scikit-learn refuses to predict no rows: a gap in the data may leave none.
            scored = model.predict(rows.X[mid:hi]) if hi > mid else rows.y[:0]
            errors[origin] = rows.y[mid:hi] - scored
    return _Forecasts(day, window, last_day, start, errors)


def _intervals(
    forecasts: _Forecasts, intervals: list[int], tolerance: float
) -> tuple[IntervalResult, ...]:
    """Each interval over the same evaluated days; the shortest is the baseline."""
    scored = []
    for interval in intervals:
        origins = range(forecasts.first_origin, forecasts.last_day + 1, interval)
        errors = np.concatenate(
            [forecasts.of(origin, origin, origin + interval) for origin in origins]
        )
        mae = float(np.mean(np.abs(errors)))
        scored.append((interval, len(origins), _rmse(errors), mae, errors.size))
    baseline = scored[0][2]
    results = []
    for interval, retrainings, rmse, mae, count in scored:
        ratio = rmse / baseline if baseline > 0 else 1.0
        results.append(
            IntervalResult(interval, retrainings, rmse, mae, count, ratio, ratio <= 1.0 + tolerance)
        )
    return tuple(results)


def _recommended(results: Iterable[IntervalResult]) -> int:
    """The longest interval within tolerance with every shorter one: error grows with a
    model's age, so a longer interval passing after a shorter failed is the folds' noise."""
    chosen = 0
    for result in results:
        if not result.within_tolerance:
            break
        chosen = result.interval_days
    return chosen


def _curve(forecasts: _Forecasts, horizon: int) -> tuple[AgePoint, ...]:
    """Error by age, a fold per retraining day. The fold's MSEs are averaged, each day's model
    counting once, and the 95% interval (Student's t over the folds) is of that mean, square
    rooted: the folds' training windows overlap, so it is narrower than the truth."""
    from scipy import stats

    points = []
    for age in range(horizon):
        folds = [
            errors
            for origin in range(forecasts.first_origin, forecasts.last_day + 1 - age)
            if (errors := forecasts.of(origin, origin + age, origin + age + 1)).size
        ]
        if not folds:
            continue
        mse = np.array([np.mean(errors**2) for errors in folds])
        mae = np.mean([np.mean(np.abs(errors)) for errors in folds])
        mean = float(np.mean(mse))
        half = 0.0
        if len(folds) > 1:
            half = float(stats.t.ppf(0.975, len(folds) - 1) * np.std(mse, ddof=1))
            half /= math.sqrt(len(folds))
        points.append(
            AgePoint(
                age,
                math.sqrt(mean),
                float(mae),
                (math.sqrt(max(mean - half, 0.0)), math.sqrt(mean + half)),
                len(folds),
                sum(errors.size for errors in folds),
            )
        )
    return tuple(points)


def _rmse(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(errors**2))) if errors.size else math.nan
