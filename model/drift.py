"""Drift and training-serving skew of one feature: serving values against the training reference.

PSI on the reference's quantile bins, the two-sample Kolmogorov-Smirnov test against the
reference sample, moments and the share of values outside the training range. Pure numpy
and scipy: the drift job (functions/) feeds it values and writes what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from model.statistics import bin_counts

# The industry's PSI tiers: below 0.1 stable, 0.1 to 0.2 worth watching, 0.2 and up drift.
PSI_WATCH = 0.1
PSI_ALERT = 0.2
# Half a value added to every bin on both sides before taking shares (Jeffreys' prior): an
# empty serving bin then weighs as "fewer than one value in n", which fades as n grows,
# instead of an arbitrary epsilon whose log dominates the sum (docs/monitoring.md).
SMOOTHING = 0.5
DEFAULT_MIN_SAMPLES = 100


@dataclass(frozen=True)
class Moments:
    mean: float
    std: float
    min: float
    max: float


@dataclass(frozen=True)
class FeatureDrift:
    """One feature of one model version in one window."""

    feature: str
    n: int
    enough_samples: bool
    psi: float
    psi_level: str
    ks_statistic: float
    ks_pvalue: float
    out_of_range_share: float
    below_range: int
    above_range: int
    mean_shift_in_std: float | None
    serving: Moments
    reference: Moments
    edges: list[float]
    reference_share: list[float]
    serving_share: list[float]
    alert: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def has_drift_reference(reference: Mapping[str, Any] | None) -> bool:
    """Whether a feature's reference has what drift needs: bins with counts and a sample.

    Versions registered before the bins were stored lack them; they keep serving, and the
    drift job reports them as having no reference.
    """
    if not reference:
        return False
    bins = reference.get("bins")
    return (
        isinstance(bins, Mapping)
        and isinstance(bins.get("edges"), list)
        and isinstance(bins.get("counts"), list)
        and len(bins["counts"]) == len(bins["edges"]) + 1
        and bool(reference.get("sample"))
    )


def shares(counts: np.ndarray, smoothing: float = SMOOTHING) -> np.ndarray:
    """Each bin's share after adding `smoothing` values to every bin."""
    smoothed = np.asarray(counts, dtype=np.float64) + smoothing
    result: np.ndarray = smoothed / smoothed.sum()
    return result


def psi(reference_counts: np.ndarray, serving_counts: np.ndarray) -> float:
    """Population stability index: sum of (serving - reference) * ln(serving / reference)
    over bins, on smoothed shares, so it is finite even where a bin is empty."""
    if len(reference_counts) != len(serving_counts):
        raise ValueError("reference and serving need the same bins")
    reference, serving = shares(reference_counts), shares(serving_counts)
    return float(np.sum((serving - reference) * np.log(serving / reference)))


def ks_test(reference_sample: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (scipy's exact or asymptotic)."""
    if reference_sample.size == 0 or values.size == 0:
        raise ValueError("the KS test needs values on both sides")
    # Imported here: scipy.stats costs a serving function's cold start a third of a second.
    from scipy import stats

    result = stats.ks_2samp(reference_sample, values)
    return float(result.statistic), float(result.pvalue)


def psi_level(value: float) -> str:
    if value >= PSI_ALERT:
        return "drift"
    if value >= PSI_WATCH:
        return "watch"
    return "stable"


def compare_feature(
    feature: str,
    reference: Mapping[str, Any],
    values: np.ndarray,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> FeatureDrift:
    """Serving `values` of one feature against its training reference (with bins)."""
    if values.size == 0:
        raise ValueError(f"no serving values of {feature!r} to compare")
    edges = np.asarray(reference["bins"]["edges"], dtype=np.float64)
    reference_counts = np.asarray(reference["bins"]["counts"], dtype=np.float64)
    serving_counts = bin_counts(edges, values)
    value = psi(reference_counts, serving_counts)
    ks_statistic, ks_pvalue = ks_test(np.asarray(reference["sample"], dtype=np.float64), values)
    below = int(np.count_nonzero(values < reference["min"]))
    above = int(np.count_nonzero(values > reference["max"]))
    enough = values.size >= min_samples
    reference_std = float(reference["std"])
    return FeatureDrift(
        feature=feature,
        n=int(values.size),
        enough_samples=enough,
        psi=value,
        psi_level=psi_level(value),
        ks_statistic=ks_statistic,
        ks_pvalue=ks_pvalue,
        out_of_range_share=(below + above) / values.size,
        below_range=below,
        above_range=above,
        mean_shift_in_std=(
            (float(values.mean()) - float(reference["mean"])) / reference_std
            if reference_std > 0
            else None
        ),
        serving=moments(values),
        reference=Moments(
            float(reference["mean"]),
            reference_std,
            float(reference["min"]),
            float(reference["max"]),
        ),
        edges=[float(edge) for edge in edges],
        reference_share=[float(share) for share in shares(reference_counts)],
        serving_share=[float(share) for share in shares(serving_counts)],
        alert=enough and value >= PSI_ALERT,
    )


def moments(values: np.ndarray) -> Moments:
    return Moments(
        float(values.mean()), float(values.std()), float(values.min()), float(values.max())
    )


def distribution(values: np.ndarray) -> dict[str, float | int]:
    """Count, mean, std and quantiles: how the predictions of a window are spread."""
    if values.size == 0:
        return {"count": 0}
    p05, p25, p50, p75, p95 = np.percentile(values, [5, 25, 50, 75, 95])
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "p05": float(p05),
        "p25": float(p25),
        "p50": float(p50),
        "p75": float(p75),
        "p95": float(p95),
        "max": float(values.max()),
    }


def latency_percentiles(latencies_ms: np.ndarray) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds (linear interpolation between records)."""
    if latencies_ms.size == 0:
        return {}
    p50, p95, p99 = np.percentile(latencies_ms, [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3)}
