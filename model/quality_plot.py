"""The live quality report's PNG: per metric, each version's live score with its 95%
interval beside its test score and the threshold it must cross to be worse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from model.live_quality import METRICS, NAMES
from model.report_plot import titled_png


def quality_report_png(title: str, versions: Sequence[Mapping[str, Any]]) -> bytes:
    """One panel per metric, one column of marks per version; worse ones in red."""
    # Imported here: matplotlib is slow to import and only reports draw plots.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, len(METRICS), figsize=(15.0, 4.6), dpi=100, squeeze=False)
    try:
        for axis, metric in zip(axes.flat, METRICS, strict=True):
            _draw(axis, metric, versions)
        return titled_png(figure, title)
    finally:
        plt.close(figure)


def _draw(ax: Any, metric: str, versions: Sequence[Mapping[str, Any]]) -> None:
    for position, version in enumerate(versions):
        (figure,) = [found for found in version["metrics"] if found["metric"] == metric]
        low, high = figure["ci95"]
        color = "tab:red" if figure["worse"] else "tab:blue"
        ax.errorbar(
            position,
            figure["value"],
            yerr=[[figure["value"] - low], [high - figure["value"]]],
            fmt="o",
            color=color,
            capsize=6,
            label="live, 95% CI" if position == 0 else None,
        )
        if figure["expected"] is not None:
            ax.plot(
                [position - 0.3, position + 0.3],
                [figure["expected"]] * 2,
                color="black",
                linewidth=2,
                label="test split" if position == 0 else None,
            )
            ax.plot(
                [position - 0.3, position + 0.3],
                [figure["threshold"]] * 2,
                color="grey",
                linestyle="--",
                linewidth=1,
                label="worse past this" if position == 0 else None,
            )
    ax.set_xticks(
        range(len(versions)),
        [f"v{version['version']}\n{version['n']} labels" for version in versions],
    )
    ax.set_xlim(-0.8, len(versions) - 0.2)
    ax.set_title(NAMES[metric])
    if versions:
        ax.legend(fontsize=8)
