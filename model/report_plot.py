"""PNG reports: predicted against actual, and residuals."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def prediction_report_png(actual: np.ndarray, predicted: np.ndarray, title: str) -> bytes:
    """Two panels: predicted vs actual with the identity line, residuals vs predicted."""
    # Imported here: matplotlib is slow to import and only training draws plots.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=100)
    try:
        low = float(min(actual.min(), predicted.min()))
        high = float(max(actual.max(), predicted.max()))
        left.scatter(actual, predicted, s=18, alpha=0.8)
        left.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
        left.set_xlabel("actual")
        left.set_ylabel("predicted")
        left.set_title("predicted vs actual (held out)")
        right.scatter(predicted, actual - predicted, s=18, alpha=0.8)
        right.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        right.set_xlabel("predicted")
        right.set_ylabel("residual (actual - predicted)")
        right.set_title("residuals")
        return titled_png(figure, title)
    finally:
        plt.close(figure)


def titled_png(figure: Any, title: str) -> bytes:
    """The figure under its title, as PNG bytes (both reports' last step)."""
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
