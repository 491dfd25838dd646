"""The promotion gate: a model ships only if it is good enough and beats production.

Two checks, as TFX's Evaluator makes them: an absolute threshold on the candidate's held-out
R², and a comparison with the production version scored on the same held-out rows. The
first version of a model has nothing to beat, so only the threshold applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.artifact import ModelArtifact
from model.dataset import Dataset
from model.metrics import regression_metrics

MIN_R2 = 0.4


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reasons": self.reasons,
            "min_r2": MIN_R2,
            "candidate_r2": self.candidate_r2,
            "production_version": self.production_version,
            "production_r2": self.production_r2,
            "candidate_metrics": self.candidate_metrics,
            "production_metrics": self.production_metrics,
        }


def decide(
    candidate: ModelArtifact, holdout: Dataset, production: ModelArtifact | None
) -> GateDecision:
    """Compare candidate and production on the candidate's held-out rows."""
    candidate_metrics = regression_metrics(holdout.y, candidate.predict(holdout.X))
    candidate_r2 = candidate_metrics["r2"]
    rows = holdout.rows
    failures: list[str] = []
    passes: list[str] = []
    if candidate_r2 < MIN_R2:
        failures.append(
            f"candidate R² {candidate_r2:.4f} on {rows} held-out rows is below the minimum {MIN_R2}"
        )
    else:
        passes.append(f"candidate R² {candidate_r2:.4f} on {rows} held-out rows ≥ {MIN_R2}")
    production_metrics = None
    if production is None:
        passes.append("first version of the model: no production version to beat")
    elif production.features != holdout.features:
        failures.append(
            f"production version {production.version} uses features "
            f"{list(production.features)}, the candidate {list(holdout.features)}"
        )
    else:
        production_metrics = regression_metrics(holdout.y, production.predict(holdout.X))
        production_r2 = production_metrics["r2"]
        if candidate_r2 <= production_r2:
            failures.append(
                f"candidate R² {candidate_r2:.4f} does not beat production version "
                f"{production.version} (R² {production_r2:.4f}) on the same {rows} rows"
            )
        else:
            passes.append(
                f"candidate R² {candidate_r2:.4f} beats production version "
                f"{production.version} (R² {production_r2:.4f}) on the same {rows} rows"
            )
    return GateDecision(
        promote=not failures,
        reasons=failures + passes,
        candidate_r2=candidate_r2,
        production_version=production.version if production else None,
        production_r2=production_metrics["r2"] if production_metrics else None,
        candidate_metrics=candidate_metrics,
        production_metrics=production_metrics,
    )
