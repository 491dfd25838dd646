"""Regression metrics, computed the same way for training reports and promotion gates."""

from __future__ import annotations

import numpy as np


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R², mean squared error and its root, mean absolute error and the number of rows."""
    residuals = actual - predicted
    total = float(np.sum((actual - actual.mean()) ** 2))
    mse = float(np.mean(residuals**2))
    return {
        "r2": 1.0 - float(np.sum(residuals**2)) / total if total else 0.0,
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(residuals))),
        "rows": int(actual.shape[0]),
    }
