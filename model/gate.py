"""The promotion gate: a model ships only if it is good enough and beats production."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.artifact import ModelArtifact
from model.dataset import Dataset
from model.metrics import regression_metrics

MIN_R2 = 0.4


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    candidate_r2: float = 0.0
    production_version: int | None = None
    production_r2: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reasons": self.reasons,
            "min_r2": MIN_R2,
            "candidate_r2": self.candidate_r2,
            "production_version": self.production_version,
            "production_r2": self.production_r2,
        }


def decide(
    candidate: ModelArtifact, holdout: Dataset, production: ModelArtifact | None
) -> GateDecision:
    """Compare candidate and production on the candidate's held-out rows."""
    candidate_r2 = regression_metrics(holdout.y, candidate.predict(holdout.X))["r2"]
    failures = []
    if candidate_r2 < MIN_R2:
        failures.append(f"held-out R² {candidate_r2:.4f} is below the minimum {MIN_R2}")
    production_r2 = None
    if production is not None and production.features != holdout.features:
        failures.append(
            f"production version {production.version} uses features "
            f"{list(production.features)}, the candidate {list(holdout.features)}"
        )
    elif production is not None:
        production_r2 = regression_metrics(holdout.y, production.predict(holdout.X))["r2"]
        if candidate_r2 <= production_r2:
            failures.append(
                f"held-out R² {candidate_r2:.4f} does not beat production version "
                f"{production.version} ({production_r2:.4f}) on the same rows"
            )
    if failures:
        reasons = failures
    else:
        beats = f" and beats production ({production_r2:.4f})" if production_r2 is not None else ""
        reasons = [f"held-out R² {candidate_r2:.4f} ≥ {MIN_R2}{beats}"]
    return GateDecision(
        promote=not failures,
        reasons=reasons,
        candidate_r2=candidate_r2,
        production_version=production.version if production else None,
        production_r2=production_r2,
    )
