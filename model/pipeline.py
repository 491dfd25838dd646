"""Train, register with a report, and promote through the gate: one continuous-training step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.names import SERVING_ALIAS
from model.artifact import ModelArtifact
from model.dataset import SEED_HOLDOUT_ROWS, Dataset
from model.gate import GateDecision, decide
from model.plots import prediction_report_png
from model.registry import AliasConflict, Registry
from model.trainer import TrainingParameters
from model.training import train


@dataclass(frozen=True)
class Outcome:
    model: ModelArtifact
    decision: GateDecision
    promoted: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "version": self.model.version,
            "metrics": self.model.metrics,
            "promoted": self.promoted,
            "gate": self.decision.as_dict(),
        }


def train_register_promote(
    registry: Registry,
    dataset: Dataset,
    name: str,
    params: TrainingParameters | None = None,
    holdout_rows: int = SEED_HOLDOUT_ROWS,
    promote: bool = True,
    alias: str = SERVING_ALIAS,
) -> Outcome:
    """Register a new version; move `alias` to it only if it passes the gate."""
    production_alias = registry.alias(name, alias)
    production = registry.load(name, production_alias.version) if production_alias else None
    run = train(
        dataset,
        name,
        params,
        holdout_rows,
        reference=production.reference if production else None,
    )
    decision = decide(run.artifact, run.split.holdout, production)
    report = {
        "metrics": run.artifact.metrics,
        "data_sha256": run.artifact.lineage["data_sha256"],
        "lineage": run.artifact.lineage,
        "validation": {"errors": run.validation.errors, "warnings": run.validation.warnings},
        "gate": decision.as_dict(),
    }
    png = prediction_report_png(
        run.split.holdout.y,
        run.holdout_predictions(),
        f"{name}: held-out rows, R² {run.artifact.metrics['r2']:.4f}",
    )
    registered = registry.register(run.artifact, report, png)
    promoted = False
    if promote and decision.promote:
        try:
            registry.set_alias(
                name, alias, registered.version, production_alias, "; ".join(decision.reasons)
            )
            promoted = True
        except AliasConflict:
            # Someone promoted another version meanwhile: our comparison is stale, so we
            # do not overwrite theirs. The version stays registered for a later decision.
            decision = GateDecision(
                promote=False,
                reasons=[*decision.reasons, f"alias {alias!r} changed during training"],
                candidate_r2=decision.candidate_r2,
                production_version=decision.production_version,
                production_r2=decision.production_r2,
            )
    return Outcome(model=registered, decision=decision, promoted=promoted)
