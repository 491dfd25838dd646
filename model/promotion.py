"""Train, register, gate, promote and report: the steps every way of training shares.

`mlctl train`, the first model of `make run` and `retrain` all register a candidate, pass it
through the gate against the production version on the same held-out rows, move the alias
by compare-and-swap, and only then write report.json with the decision that was taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model.artifact import ModelArtifact
from model.dataset import Dataset
from model.estimator import TrainingSpec
from model.gate import GateDecision, GateSettings, decide
from model.layout import SERVING_ALIAS
from model.leaderboard import entries, rows
from model.registry import Alias, AliasConflict, Registry, RegistryError
from model.report_plot import ReportFigures, report_png
from model.rollout import end_after_promotion
from model.search import SearchSettings
from model.training import Protocol, TrainingRun, train
from model.validation import Schema, ValidationReport

# Each round is one lost compare-and-swap: another promotion won and we compare again.
MAX_GATE_ROUNDS = 20
# report.png: the fold scores of this many candidates side by side, this many in its table.
# report.json holds them all.
PLOTTED_CANDIDATES = 5
TABLED_CANDIDATES = 8


@dataclass(frozen=True)
class Production:
    """The alias as read (for the compare-and-swap) and the version it points at."""

    alias: Alias | None
    model: ModelArtifact | None

    @property
    def version(self) -> int | None:
        return None if self.alias is None else self.alias.version


@dataclass(frozen=True)
class Promotion:
    """A registered candidate through the gate: the last decision taken (GateDecision),
    whether the alias moved to it, and the version serving after. Its model event, if it
    came from an upload, is made from it (model/continuous_training.py)."""

    model: ModelArtifact
    decision: GateDecision
    promoted: bool
    serving_version: int | None
    # The rollout this promotion ended (docs/rollout.md): the new production serves all.
    rollout_ended: dict[str, Any] | None = None

    @property
    def verdict(self) -> str:
        if self.promoted:
            return "promoted"
        return "rejected" if not self.decision.promote else "passed, not promoted"

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "version": self.model.version,
            "metrics": self.model.metrics,
            "promoted": self.promoted,
            "gate": self.decision.as_dict(),
        }


def read_production(registry: Registry, name: str, alias: str = SERVING_ALIAS) -> Production:
    current = registry.alias(name, alias)
    model = registry.load(name, current.version) if current else None
    return Production(current, model)


def gate_and_promote(
    registry: Registry,
    candidate: ModelArtifact,
    holdout: Dataset,
    production: Production,
    alias: str = SERVING_ALIAS,
    promote: bool = True,
    gate: GateSettings | None = None,
) -> Promotion:
    """Decide against `production`; if the alias moved meanwhile, decide again against the
    version it moved to, so no version is promoted over one it was never compared with."""
    for _ in range(MAX_GATE_ROUNDS):
        if production.alias is not None and production.alias.version == candidate.version:
            return _already_promoted(registry, candidate, holdout, production.alias, gate)
        decision = decide(candidate, holdout, production.model, gate)
        if not (promote and decision.promote):
            return Promotion(candidate, decision, False, production.version)
        try:
            registry.set_alias(
                candidate.name, alias, candidate.version, production.alias, decision.reasons[-1]
            )
        except AliasConflict:
            production = read_production(registry, candidate.name, alias)
            continue
        ended = _end_rollout(registry, candidate, alias)
        return Promotion(candidate, decision, True, candidate.version, ended)
    raise RegistryError(
        f"alias {alias!r} of {candidate.name!r} changed {MAX_GATE_ROUNDS} times while "
        f"version {candidate.version} was being compared"
    )


def _already_promoted(
    registry: Registry,
    candidate: ModelArtifact,
    holdout: Dataset,
    alias: Alias,
    gate: GateSettings | None,
) -> Promotion:
    """An earlier attempt promoted the candidate and died: rebuild its decision."""
    previous = alias.document.get("previous_version")
    replaced = registry.load(candidate.name, int(previous)) if previous is not None else None
    decision = decide(candidate, holdout, replaced, gate)
    ended = _end_rollout(registry, candidate, alias.name)
    return Promotion(candidate, decision, True, candidate.version, ended)


def _end_rollout(registry: Registry, candidate: ModelArtifact, alias: str) -> dict[str, Any] | None:
    """The served alias moved: a rollout under way ends (its document, or None)."""
    if alias != SERVING_ALIAS:
        return None
    ended = end_after_promotion(registry, candidate.name, candidate.version)
    return None if ended is None else ended.to_document()


def write_report(
    registry: Registry,
    candidate: ModelArtifact,
    holdout: Dataset,
    validation: ValidationReport,
    promotion: Promotion,
    run: TrainingRun | None = None,
) -> dict[str, Any]:
    """Create report.json and report.png of the candidate (kept if they exist already).
    `run`: the one that trained it; None for a candidate registered by an attempt that died,
    whose report then has no evaluation and its image only the test-split panels."""
    search = run.search if run else None
    report = {
        "metrics": candidate.metrics,
        "evaluation": run.evaluation if run else None,
        **({"leaderboard": [c.as_dict() for c in search.leaderboard]} if search else {}),
        "data_sha256": candidate.lineage["data_sha256"],
        "dataset": candidate.lineage.get("dataset"),
        "lineage": candidate.lineage,
        "validation": validation.as_dict(),
        "gate": {
            **promotion.decision.as_dict(),
            "decision": promotion.verdict,
            "promoted": promotion.promoted,
            "serving_version": promotion.serving_version,
            "rollout_ended": promotion.rollout_ended,
        },
    }
    title = (
        f"{candidate.name} version {candidate.version}: test R² "
        f"{candidate.metrics['r2']:.4f}, {promotion.verdict}"
    )
    png = report_png(_figures(title, report, holdout.y, candidate.predict(holdout.X), run))
    registry.write_report(candidate.name, candidate.version, report, png)
    return report


def _figures(
    title: str,
    report: dict[str, Any],
    actual: Any,
    predicted: Any,
    run: TrainingRun | None,
) -> ReportFigures:
    """What report.png draws: the same figures as report.json holds."""
    if run is None:
        return ReportFigures(title, actual, predicted)
    found = entries(report)  # the leaderboard, or the one model trained
    return ReportFigures(
        title,
        actual,
        predicted,
        scheme=str(run.cross_validation.scheme),
        fold_scores=[
            (f"{rank}. {entry['family']}", entry["cv_r2_scores"])
            for rank, entry in enumerate(found[:PLOTTED_CANDIDATES], start=1)
        ],
        learning_curve=run.learning_curve,
        leaderboard=rows(found[:TABLED_CANDIDATES]) if run.search else (),
    )


def train_register_promote(
    registry: Registry,
    dataset: Dataset,
    name: str,
    spec: TrainingSpec | None = None,
    protocol: Protocol | None = None,
    promote: bool = True,
    alias: str = SERVING_ALIAS,
    validation: ValidationReport | None = None,
    production: Production | None = None,
    gate: GateSettings | None = None,
    search: SearchSettings | None = None,
) -> Promotion:
    """Register a new version; move `alias` to it only if it passes the gate.

    `validation` is the report of data already validated (an uploaded CSV) against
    `production`, the version it was read with; bundled data is validated here against the
    production version's training reference.
    """
    if production is None:
        production = read_production(registry, name, alias)
    schema = None
    if validation is None:  # bundled data: checked against the production reference here
        same_features = (
            production.model is not None and production.model.features == dataset.features
        )
        reference = production.model.reference if production.model and same_features else None
        schema = Schema(reference=reference)
    run = train(dataset, name, spec, protocol, schema, validation, search)
    return register_and_promote(registry, run, production, alias, promote, gate)


def register_and_promote(
    registry: Registry,
    run: TrainingRun,
    production: Production,
    alias: str = SERVING_ALIAS,
    promote: bool = True,
    gate: GateSettings | None = None,
) -> Promotion:
    """Register the run's artifact, gate it on its test split, promote it if it passed, and
    write its report."""
    candidate = registry.register(run.artifact)
    test = run.split.holdout
    promotion = gate_and_promote(registry, candidate, test, production, alias, promote, gate)
    write_report(registry, candidate, test, run.validation, promotion, run)
    return promotion
