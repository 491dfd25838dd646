"""Live model quality: a version's errors on labelled traffic beside its own test scores
(docs/monitoring.md, "Live quality").

Per model version in a window of joined rows (docs/feedback.md): RMSE, MAE and R² with 95%
intervals from a seeded bootstrap over the rows, beside the version's test scores from its
registry report. A metric is *worse* when the live score differs from the test score by more
than both samples' noise at 95% (`threshold`): the test split is a sample too, and a small
one. Pure: the job (functions/monitoring/quality_job.py) lists, reads, writes and alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson

METRICS = ("rmse", "mae", "r2")
# Which way a metric gets worse: up for errors, down for R².
HIGHER_IS_WORSE = {"rmse": True, "mae": True, "r2": False}
NAMES = {"rmse": "RMSE", "mae": "MAE", "r2": "R²"}
CONFIDENCE = 0.95
Z = 1.959964  # the normal quantile of a two-sided 95% interval
RESAMPLES = 1_000
SEED = 0
# Row indices drawn at once (resamples × rows): bounded memory for a large window.
_CHUNK_CELLS = 2_000_000


class InvalidRow(ValueError):
    """A joined row this job cannot read; counted, never fatal."""


@dataclass(frozen=True)
class LabelledRow:
    model: str
    version: int
    label: float
    prediction: float
    label_time: datetime
    # The instance, so another version can be scored on it (model/rollout_judgement.py).
    features: tuple[float, ...] = ()
    feature_names: tuple[str, ...] = ()

    def as_document(self) -> dict[str, Any]:
        """As the join wrote it, for model/rollout_judgement.py."""
        return {
            "version": self.version,
            "label": self.label,
            "features": list(self.features),
            "feature_names": list(self.feature_names),
        }


def parse_row(data: bytes) -> LabelledRow:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidRow(f"JSONDecodeError: {error}") from None
    return row_of(document)


def row_of(row: Any) -> LabelledRow:
    """A joined row (docs/feedback.md) as read back; InvalidRow naming what is wrong."""
    try:
        parsed = LabelledRow(
            model=str(row["model"]),
            version=int(row["version"]),
            label=float(row["label"]),
            prediction=float(row["prediction"]),
            label_time=datetime.fromisoformat(str(row["label_time"])),
            features=tuple(float(value) for value in row.get("features") or ()),
            feature_names=tuple(str(name) for name in row.get("feature_names") or ()),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidRow(f"{type(error).__name__}: {error}") from None
    if parsed.label_time.tzinfo is None:
        raise InvalidRow(f"label_time {row['label_time']!r} has no time zone")
    if not (np.isfinite(parsed.label) and np.isfinite(parsed.prediction)):
        raise InvalidRow("label and prediction must be finite numbers")
    return parsed


def by_version(rows: Iterable[LabelledRow]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Labels and predictions of each version, in arrays."""
    grouped: dict[int, tuple[list[float], list[float]]] = {}
    for row in rows:
        labels, predictions = grouped.setdefault(row.version, ([], []))
        labels.append(row.label)
        predictions.append(row.prediction)
    return {
        version: (np.asarray(labels, dtype=np.float64), np.asarray(predictions, dtype=np.float64))
        for version, (labels, predictions) in sorted(grouped.items())
    }


def expected_scores(report: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The test split's scores of a version's registry report (`metrics`, as training wrote
    them), or None when it has none (a report not written yet, or without them)."""
    metrics = (report or {}).get("metrics") or {}
    if not all(isinstance(metrics.get(metric), int | float) for metric in METRICS):
        return None
    return {key: float(metrics[key]) for key in (*METRICS, "rows") if key in metrics}


def scores(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    residuals = labels - predictions
    total = float(np.sum((labels - labels.mean()) ** 2))
    sse = float(np.sum(residuals**2))
    return {
        "rmse": float(np.sqrt(sse / labels.size)),
        "mae": float(np.mean(np.abs(residuals))),
        # Labels all equal: R² says nothing (0, as model/metrics.py has it).
        "r2": 1.0 - sse / total if total else 0.0,
    }


def intervals(
    labels: np.ndarray, predictions: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals (CONFIDENCE) of each metric: rows drawn with
    replacement, every metric scored on the same resamples. Seeded: a window always gets
    the same report."""
    rng = np.random.default_rng(seed)
    n = labels.size
    residuals = labels - predictions
    found: dict[str, list[np.ndarray]] = {metric: [] for metric in METRICS}
    left = resamples
    while left > 0:
        count = max(1, min(left, _CHUNK_CELLS // n))
        rows = rng.integers(0, n, size=(count, n))
        drawn = residuals[rows]
        sse = (drawn**2).sum(axis=1)
        drawn_labels = labels[rows]
        total = ((drawn_labels - drawn_labels.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        found["rmse"].append(np.sqrt(sse / n))
        found["mae"].append(np.abs(drawn).mean(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            found["r2"].append(np.where(total > 0, 1.0 - sse / total, 0.0))
        left -= count
    tail = (1.0 - CONFIDENCE) / 2 * 100
    bounds = {
        metric: np.percentile(np.concatenate(values), [tail, 100 - tail])
        for metric, values in found.items()
    }
    return {metric: (float(low), float(high)) for metric, (low, high) in bounds.items()}


def threshold(
    metric: str,
    ci95: tuple[float, float],
    n: int,
    expected: float,
    test_rows: int | None,
) -> float:
    """The live score past which the metric is worse with confidence: the test score plus
    (for R² minus) Z times the standard error of the difference. The test score is a sample
    too: its standard error is the live one's scaled to the test rows, √(n / test rows), as
    it would be if both came from the same relation (the null); without its row count it
    counts as exact."""
    live_error = (ci95[1] - ci95[0]) / (2 * Z)
    test_error = live_error * (n / test_rows) ** 0.5 if test_rows else 0.0
    margin = Z * float(np.hypot(live_error, test_error))
    return expected + margin if HIGHER_IS_WORSE[metric] else expected - margin


def worse(metric: str, value: float, limit: float) -> bool:
    return value > limit if HIGHER_IS_WORSE[metric] else value < limit


def version_quality(
    version: int,
    labels: np.ndarray,
    predictions: np.ndarray,
    test: Mapping[str, float] | None,
    min_labels: int,
) -> dict[str, Any]:
    """One version's live figures beside its test scores, with its status and why."""
    n = int(labels.size)
    live = scores(labels, predictions)
    ci = intervals(labels, predictions)
    metrics = []
    for metric in METRICS:
        figure: dict[str, Any] = {
            "metric": metric,
            "value": live[metric],
            "ci95": list(ci[metric]),
            "expected": None,
            "threshold": None,
            "worse": False,
        }
        if test is not None:
            rows = int(test["rows"]) if test.get("rows") else None
            limit = threshold(metric, ci[metric], n, test[metric], rows)
            figure["expected"] = test[metric]
            figure["threshold"] = limit
            figure["worse"] = n >= min_labels and worse(metric, live[metric], limit)
        metrics.append(figure)
    status, message = _status(version, n, test, metrics, min_labels)
    return {
        "version": version,
        "status": status,
        "message": message,
        "n": n,
        "test": dict(test) if test else None,
        "metrics": metrics,
    }


def alerts(
    model: str, versions: Sequence[Mapping[str, Any]], window: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One alert per version and metric worse than its test score (the data of a message on
    performance-alerts)."""
    return [
        {
            "model": model,
            "version": version["version"],
            "metric": figure["metric"],
            "value": figure["value"],
            "expected": figure["expected"],
            "ci95": figure["ci95"],
            "n": version["n"],
            "window": dict(window),
            "reason": reason(figure, version["n"]),
        }
        for version in versions
        for figure in version["metrics"]
        if figure["worse"]
    ]


def reason(figure: Mapping[str, Any], n: int) -> str:
    """`live RMSE 75.1 (95% CI 70.2 to 80.4, 400 labels) is above 70.3: the test RMSE 62.3
    and the noise of both samples`"""
    metric = figure["metric"]
    name = NAMES[metric]
    low, high = figure["ci95"]
    side = "above" if HIGHER_IS_WORSE[metric] else "below"
    return (
        f"live {name} {figure['value']:.4g} (95% CI {low:.4g} to {high:.4g}, {n} labels) is "
        f"{side} {figure['threshold']:.4g}: the test {name} {figure['expected']:.4g} and the "
        "noise of both samples"
    )


def overall(versions: Sequence[Mapping[str, Any]]) -> str:
    statuses = {version["status"] for version in versions}
    for status in ("worse", "ok", "too_few_labels", "no_test_scores"):
        if status in statuses:
            return status
    return "no_labels"


def _status(
    version: int,
    n: int,
    test: Mapping[str, float] | None,
    metrics: Sequence[Mapping[str, Any]],
    min_labels: int,
) -> tuple[str, str]:
    if test is None:
        return (
            "no_test_scores",
            f"version {version} has no test scores in its registry report: live figures only",
        )
    if n < min_labels:
        return (
            "too_few_labels",
            f"{n} labels of version {version}, fewer than the {min_labels} needed "
            "(QUALITY_MIN_LABELS): figures for information, no alert",
        )
    found = [NAMES[figure["metric"]] for figure in metrics if figure["worse"]]
    if found:
        return "worse", f"worse than its test score with 95% confidence: {', '.join(found)}"
    return "ok", "no metric is worse than its test score with 95% confidence"
