"""The retraining backtest's PNG (`mlctl assess-retraining --plot`): error by model age with
its 95% interval, and each interval's RMSE against the tolerance."""

from __future__ import annotations

from typing import Any

import numpy as np

from model.report_plot import titled_png
from model.retraining_backtest import Backtest

_SIZE = (12.0, 4.5)  # inches, at 100 dots per inch


def retraining_png(result: Backtest, title: str) -> bytes:
    # Imported here: matplotlib is slow to import and only reports draw plots.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (by_age, by_interval) = plt.subplots(1, 2, figsize=_SIZE, dpi=100)
    try:
        limit = result.baseline.rmse * (1.0 + result.settings.tolerance)
        _curve(by_age, result, limit)
        _intervals(by_interval, result, limit)
        return titled_png(figure, title)
    finally:
        plt.close(figure)


def _curve(axis: Any, result: Backtest, limit: float) -> None:
    ages = np.array([point.age_days for point in result.curve])
    axis.plot(ages, [point.rmse for point in result.curve], marker="o", markersize=3, label="RMSE")
    low, high = zip(*(point.ci95 for point in result.curve), strict=True)
    axis.fill_between(ages, low, high, alpha=0.2, label="95% interval over the folds")
    axis.axhline(limit, color="grey", linestyle="--", linewidth=1, label="tolerance")
    axis.set_xlabel("model age (days since its retraining)")
    axis.set_ylabel("RMSE")
    axis.set_title("error by model age")
    axis.legend(loc="upper left")


def _intervals(axis: Any, result: Backtest, limit: float) -> None:
    labels = [str(interval.interval_days) for interval in result.intervals]
    colours = [
        "tab:green" if interval.interval_days == result.recommended_interval_days else "tab:blue"
        for interval in result.intervals
    ]
    axis.bar(labels, [interval.rmse for interval in result.intervals], color=colours)
    axis.axhline(limit, color="grey", linestyle="--", linewidth=1)
    low = min(interval.rmse for interval in result.intervals)
    high = max(max(interval.rmse for interval in result.intervals), limit)
    axis.set_ylim(low - 0.2 * (high - low) - 1e-9, high + 0.1 * (high - low) + 1e-9)
    axis.set_xlabel("retraining interval (days); green: recommended")
    axis.set_ylabel("RMSE over the evaluated days")
    axis.set_title(f"RMSE by interval (tolerance {result.settings.tolerance:.0%})")
