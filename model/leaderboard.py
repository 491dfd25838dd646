"""A version's leaderboard as a person reads it, from its report.json: the same rows in
report.png's table and in `mlctl leaderboard` / `mlctl describe`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HEADER = ("rank", "family", "params", "CV R² mean ± std", "fit s", "predict µs/row")


def entries(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The search's candidates, best first; without a search the one model trained, from its
    cross-validation; none when the version has no evaluation (its attempt died)."""
    if report.get("leaderboard"):
        return list(report["leaderboard"])
    cv = (report.get("evaluation") or {}).get("cv")
    if cv is None:
        return []
    parameters = report.get("lineage", {}).get("parameters", {})
    return [
        {
            "family": parameters.get("family"),
            "params": parameters.get("params", {}),
            "cv_r2_mean": cv["r2"]["mean"],
            "cv_r2_std": cv["r2"]["std"],
            "cv_r2_scores": cv["r2"].get("scores", []),
            "fit_seconds": cv.get("fit_seconds"),  # None in reports older than these figures
            "predict_us_per_row": cv.get("predict_us_per_row"),
        }
    ]


def rows(found: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row of strings per entry, in HEADER's order."""
    return [
        (
            str(rank),
            str(entry.get("family")),
            short_params(entry.get("params") or {}),
            f"{entry['cv_r2_mean']:.4f} ± {entry['cv_r2_std']:.4f}",
            _figure(entry.get("fit_seconds"), ".3g"),
            _figure(entry.get("predict_us_per_row"), ".3g"),
        )
        for rank, entry in enumerate(found, start=1)
    ]


def short_params(params: Mapping[str, Any]) -> str:
    """`alpha=20.1, l1_ratio=0.5`: three significant digits, `-` for none."""
    return ", ".join(f"{key}={_value(value)}" for key, value in sorted(params.items())) or "-"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _figure(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
