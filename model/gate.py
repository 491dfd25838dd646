"""The promotion gate: a model ships only when it is better with confidence (docs/evaluation.md).

Both checks are made on the test split, rows neither model was fitted on, and both are
paired: each resample of the rows (a bootstrap, seeded) scores the two sides on the same
rows, so what differs is the models, not the rows. The share of resamples in which the
candidate wins is the confidence that it is better; it must reach the model's setting
(0.95 by default) against

- predicting the mean of those rows (R² > 0): the candidate has learned something;
- the production version, when there is one with the same features.

An optional minimum R² (none by default) is a plain threshold on the test score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.artifact import ModelArtifact
from model.dataset import Dataset
from model.metrics import regression_metrics

DEFAULT_CONFIDENCE = 0.95
RESAMPLES = 2_000
# Row indices drawn at once (resamples × rows): bounded memory for a large test split.
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class GateSettings:
    confidence: float = DEFAULT_CONFIDENCE
    min_r2: float | None = None
    resamples: int = RESAMPLES
    seed: int = 0


@dataclass(frozen=True)
class GateDecision:
    """Whether the candidate passed; failing reasons first, then the passing ones."""

    promote: bool
    reasons: list[str] = field(default_factory=list)
    candidate_r2: float = 0.0
    production_version: int | None = None
    production_r2: float | None = None
    candidate_metrics: dict[str, float] = field(default_factory=dict)
    production_metrics: dict[str, float] | None = None
    confidence: float = DEFAULT_CONFIDENCE
    min_r2: float | None = None
    # Shares of the paired resamples the candidate won: against the mean, against production.
    better_than_mean: float = 0.0
    better_than_production: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reasons": self.reasons,
            "confidence": self.confidence,
            "min_r2": self.min_r2,
            "candidate_r2": self.candidate_r2,
            "production_version": self.production_version,
            "production_r2": self.production_r2,
            "candidate_metrics": self.candidate_metrics,
            "production_metrics": self.production_metrics,
            "better_than_mean": self.better_than_mean,
            "better_than_production": self.better_than_production,
        }


def decide(
    candidate: ModelArtifact,
    test: Dataset,
    production: ModelArtifact | None,
    settings: GateSettings | None = None,
) -> GateDecision:
    """Compare the candidate with the mean and with production on the test split."""
    settings = settings or GateSettings()
    predicted = candidate.predict(test.X)
    candidate_metrics = regression_metrics(test.y, predicted)
    candidate_r2 = candidate_metrics["r2"]
    candidate_errors = (test.y - predicted) ** 2
    failures: list[str] = []
    passes: list[str] = []
    rows, needed = test.rows, settings.confidence

    resampled = _Resamples(rows, settings)
    better_than_mean = resampled.share_better_than_mean(candidate_errors, test.y)
    check = failures if better_than_mean < needed else passes
    check.append(
        f"candidate R² {candidate_r2:.4f} on {rows} test rows: better than predicting their mean "
        f"in {better_than_mean:.0%} of {settings.resamples:,} paired resamples "
        f"(needs {needed:.0%})"
    )
    if settings.min_r2 is not None:
        check = failures if candidate_r2 < settings.min_r2 else passes
        relation = "below" if candidate_r2 < settings.min_r2 else "≥"
        check.append(f"candidate R² {candidate_r2:.4f} {relation} the minimum {settings.min_r2}")

    production_metrics = None
    better_than_production = None
    if production is None:
        passes.append("first version of the model: no production version to beat")
    elif production.features != test.features:
        failures.append(
            f"production version {production.version} uses features "
            f"{list(production.features)}, the candidate {list(test.features)}"
        )
    else:
        production_predicted = production.predict(test.X)
        production_metrics = regression_metrics(test.y, production_predicted)
        production_errors = (test.y - production_predicted) ** 2
        better_than_production = resampled.share_better(candidate_errors, production_errors)
        check = failures if better_than_production < needed else passes
        verdict = "beats" if better_than_production >= needed else "does not beat"
        check.append(
            f"candidate {verdict} production version {production.version}: RMSE "
            f"{_rmse(production_errors):.1f} → {_rmse(candidate_errors):.1f} on the same {rows} "
            f"rows, better in {better_than_production:.0%} of {settings.resamples:,} paired "
            f"resamples (needs {needed:.0%})"
        )
    return GateDecision(
        promote=not failures,
        reasons=failures + passes,
        candidate_r2=candidate_r2,
        production_version=production.version if production else None,
        production_r2=production_metrics["r2"] if production_metrics else None,
        candidate_metrics=candidate_metrics,
        production_metrics=production_metrics,
        confidence=needed,
        min_r2=settings.min_r2,
        better_than_mean=better_than_mean,
        better_than_production=better_than_production,
    )


def share_better(
    candidate_errors: np.ndarray, other_errors: np.ndarray, settings: GateSettings
) -> float:
    """The share of the gate's paired resamples in which the candidate's squared errors sum
    lower than the other model's on the same rows."""
    return _Resamples(len(candidate_errors), settings).share_better(candidate_errors, other_errors)


def _rmse(squared_errors: np.ndarray) -> float:
    return float(np.sqrt(squared_errors.mean()))


class _Resamples:
    """The same seeded bootstrap resamples of the test rows for every comparison."""

    def __init__(self, rows: int, settings: GateSettings) -> None:
        self._rows = rows
        self._settings = settings

    def share_better(self, candidate_errors: np.ndarray, other_errors: np.ndarray) -> float:
        """Share of resamples in which the candidate's squared errors sum lower."""
        return self._share(lambda rows: other_errors[rows].sum(axis=1), candidate_errors)

    def share_better_than_mean(self, candidate_errors: np.ndarray, actual: np.ndarray) -> float:
        """Share of resamples in which the candidate beats each resample's own mean (R² > 0)."""

        def spread(rows: np.ndarray) -> np.ndarray:
            values = actual[rows]
            sums: np.ndarray = ((values - values.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            return sums

        return self._share(spread, candidate_errors)

    def _share(
        self, other: Callable[[np.ndarray], np.ndarray], candidate_errors: np.ndarray
    ) -> float:
        rng = np.random.default_rng(self._settings.seed)
        wins, left = 0, self._settings.resamples
        while left > 0:
            count = max(1, min(left, _CHUNK_CELLS // self._rows))
            rows = rng.integers(0, self._rows, size=(count, self._rows))
            wins += int(np.count_nonzero(candidate_errors[rows].sum(axis=1) < other(rows)))
            left -= count
        return wins / self._settings.resamples
