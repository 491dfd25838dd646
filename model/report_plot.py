"""A version's report.png: predicted against actual and residuals on the test split, the
cross-validation scores of the best candidates, the winner's learning curve and the
leaderboard. A panel whose data the report lacks is left out."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.leaderboard import HEADER
from model.learning_curve import LearningCurve

WIDTH = 12.0  # inches, at 100 dots per inch
_PANEL_ROW = 4.5
_TABLE_ROW = 2.6  # up to 8 leaderboard rows and the header
# Small training sizes can score far below zero: the axis stops here so the larger sizes
# stay readable (report.json holds every figure).
_LOWEST_R2_SHOWN = -1.0


@dataclass(frozen=True)
class ReportFigures:
    title: str
    actual: np.ndarray  # the test split's target
    predicted: np.ndarray  # the version's predictions of those rows
    scheme: str = ""  # the cross-validation, FOLDSxREPEATS
    fold_scores: Sequence[tuple[str, Sequence[float]]] = ()  # a label and R² per fold, best first
    learning_curve: LearningCurve | None = None
    leaderboard: Sequence[tuple[str, ...]] = ()  # rows in leaderboard.HEADER's order


def report_png(figures: ReportFigures) -> bytes:
    """A row of test-split panels, a row of cross-validation panels if there are fold scores or
    a learning curve, and the leaderboard's table if there is one."""
    # Imported here: matplotlib is slow to import and only training draws plots.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    analysis = bool(figures.fold_scores) or figures.learning_curve is not None
    heights = [_PANEL_ROW] + [_PANEL_ROW] * analysis + [_TABLE_ROW] * bool(figures.leaderboard)
    figure = plt.figure(figsize=(WIDTH, sum(heights)), dpi=100)
    try:
        grid = figure.add_gridspec(len(heights), 2, height_ratios=heights)
        _predicted_vs_actual(figure.add_subplot(grid[0, 0]), figures)
        _residuals(figure.add_subplot(grid[0, 1]), figures)
        if figures.fold_scores:
            _fold_scores(figure.add_subplot(grid[1, 0]), figures)
        if figures.learning_curve is not None:
            _learning_curve(figure.add_subplot(grid[1, 1]), figures.learning_curve)
        if figures.leaderboard:
            _leaderboard(figure.add_subplot(grid[-1, :]), figures.leaderboard)
        return titled_png(figure, figures.title)
    finally:
        plt.close(figure)


def _predicted_vs_actual(axis: Any, figures: ReportFigures) -> None:
    actual, predicted = figures.actual, figures.predicted
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    axis.scatter(actual, predicted, s=18, alpha=0.8)
    axis.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel("actual")
    axis.set_ylabel("predicted")
    axis.set_title(f"predicted vs actual ({len(actual)} test rows)")


def _residuals(axis: Any, figures: ReportFigures) -> None:
    axis.scatter(figures.predicted, figures.actual - figures.predicted, s=18, alpha=0.8)
    axis.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel("predicted")
    axis.set_ylabel("residual (actual - predicted)")
    axis.set_title("residuals on the test split")


def _fold_scores(axis: Any, figures: ReportFigures) -> None:
    """A box per candidate, its folds as points over it; the best on top."""
    labels = [label for label, _ in figures.fold_scores]
    scores = [np.asarray(values, dtype=np.float64) for _, values in figures.fold_scores]
    axis.boxplot(scores, orientation="horizontal", tick_labels=labels, showfliers=False)
    jitter = np.random.default_rng(0)  # seeded: the same report draws the same image
    for position, values in enumerate(scores, start=1):
        offsets = jitter.uniform(-0.15, 0.15, len(values))
        axis.scatter(values, position + offsets, s=10, alpha=0.6, color="tab:blue")
    axis.invert_yaxis()
    axis.set_xlabel("R² per fold")
    axis.set_title(f"cross-validation {figures.scheme}: R² per fold")


def _learning_curve(axis: Any, curve: LearningCurve) -> None:
    sizes = np.asarray(curve.sizes)
    lowest = 0.0
    for name, mean, std in (
        ("train", curve.train_r2, curve.train_r2_std),
        ("validation", curve.validation_r2, curve.validation_r2_std),
    ):
        means, spread = np.asarray(mean), np.asarray(std)
        axis.plot(sizes, means, marker="o", label=f"{name} R²")
        axis.fill_between(sizes, means - spread, means + spread, alpha=0.2)
        lowest = min(lowest, float(np.min(means - spread)))
    axis.set_ylim(bottom=max(lowest, _LOWEST_R2_SHOWN) - 0.05)
    axis.set_xlabel("training rows")
    axis.set_ylabel("R² (mean ± std over folds)")
    axis.set_title(f"learning curve ({curve.folds} folds)")
    axis.legend(loc="lower right")


def _leaderboard(axis: Any, rows: Sequence[tuple[str, ...]]) -> None:
    axis.axis("off")
    # A space each side rather than matplotlib's padding, a share of the cell's width: the
    # narrow cells get none, the wide params cell too much.
    table = axis.table(
        cellText=[[f" {cell} " for cell in row] for row in rows],
        colLabels=[f" {label} " for label in HEADER],
        loc="upper center",
        cellLoc="left",
        colLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    for cell in table.get_celld().values():
        cell.PAD = 0.01
    table.auto_set_column_width(list(range(len(HEADER))))
    table.scale(1.0, 1.4)
    axis.set_title("leaderboard (best mean cross-validation R² first)")


def titled_png(figure: Any, title: str) -> bytes:
    """The figure under its title, as PNG bytes (both reports' last step)."""
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
