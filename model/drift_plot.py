"""The drift report's PNG: reference vs serving histogram per model version and feature."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.report_plot import titled_png

# Beyond this many panels the figure is unreadable: the report's JSON has every figure.
MAX_PANELS = 12
_BINS = 30


@dataclass(frozen=True)
class Panel:
    """One version's feature: serving values, the reference sample (None: no reference)."""

    title: str
    serving: np.ndarray
    reference: np.ndarray | None
    training_range: tuple[float, float] | None
    highlight: bool  # drift: drawn in red


def drift_report_png(title: str, panels: Sequence[Panel]) -> bytes:
    """A grid of density histograms, the training range as dashed lines."""
    # Imported here: matplotlib is slow to import and only reports draw plots.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    shown = list(panels)[:MAX_PANELS] or [Panel("no records", np.array([]), None, None, False)]
    columns = min(3, len(shown))
    rows = math.ceil(len(shown) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(5.0 * columns, 3.6 * rows + 0.6), dpi=100, squeeze=False
    )
    try:
        for axis, panel in zip(axes.flat, shown, strict=False):
            _draw(axis, panel)
        for axis in list(axes.flat)[len(shown) :]:
            axis.set_visible(False)
        return titled_png(figure, title)
    finally:
        plt.close(figure)


def _draw(ax: Any, panel: Panel) -> None:
    """One panel on a matplotlib Axes."""
    values = [panel.serving] + ([panel.reference] if panel.reference is not None else [])
    joined = np.concatenate(values) if values else np.array([])
    if joined.size == 0:
        ax.set_title(panel.title)
        return
    low, high = float(joined.min()), float(joined.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, _BINS + 1)
    if panel.reference is not None:
        ax.hist(
            panel.reference,
            bins=edges,
            density=True,
            alpha=0.45,
            color="tab:blue",
            label=f"training reference (n={panel.reference.size})",
        )
    if panel.serving.size:
        ax.hist(
            panel.serving,
            bins=edges,
            density=True,
            histtype="step",
            linewidth=2,
            color="tab:red" if panel.highlight else "tab:orange",
            label=f"serving (n={panel.serving.size})",
        )
    if panel.training_range is not None:
        for bound in panel.training_range:
            ax.axvline(bound, color="grey", linestyle="--", linewidth=1)
    ax.set_title(panel.title, color="tab:red" if panel.highlight else "black", fontsize=10)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
