"""Continuous training: one uploaded dataset in, one outcome (a ModelEvent) out.

validate → seeded held-out split → train (the model's training settings, else production's
family and parameters) → register → gate against production on the same
held-out rows → promote by compare-and-swap → report → outcome. The run ledger (runs.py)
makes a redelivered upload change nothing and publish the same outcome; an attempt that
resumes a dead one's run reuses the version it registered, found in the lineage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from model.artifact import ModelArtifact
from model.dataset import Dataset, Split, seeded_split
from model.labelled_retraining import trigger_of
from model.layout import DATASETS_PREFIX, INCOMING, SERVING_ALIAS
from model.model_events import INVALID_DATA, PROMOTED, REJECTED, ModelEvent
from model.promotion import Production, gate_and_promote, read_production, write_report
from model.registry import NAME_PATTERN, Registry
from model.run_ledger import Claim, RunLedger, run_path
from model.training import TrainingRun, train_on_split
from model.training_settings import read_settings
from model.validation import InvalidData, Rules, Schema, ValidationReport, validate_csv


@dataclass(frozen=True)
class Upload:
    """An object generation that landed under datasets/<model>/incoming/."""

    bucket: str
    name: str
    generation: int
    model: str

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"

    @property
    def dataset(self) -> str:
        """The exact bytes that trained: the object's URI and generation."""
        return f"{self.uri}#{self.generation}"


def upload_of(bucket: str, name: str, generation: int) -> Upload | str:
    """The Upload an object is, or why it is not one (a sentence for the log)."""
    if not name.startswith(DATASETS_PREFIX):
        return f"{name} is not under {DATASETS_PREFIX}"
    model, _, rest = name[len(DATASETS_PREFIX) :].partition("/")
    if not rest.startswith(INCOMING) or not model:
        return f"{name} is not under {DATASETS_PREFIX}<model>/{INCOMING}"
    if rest == INCOMING or name.endswith("/"):
        return f"{name} is a folder placeholder, not a file"
    if not re.match(NAME_PATTERN, model):
        return f"{name}: {model!r} is not a model name (letters, digits, '.', '_', '-')"
    return Upload(bucket, name, generation, model)


@dataclass(frozen=True)
class RetrainSettings:
    rules: Rules = field(default_factory=Rules)
    holdout_fraction: float = 0.2
    seed: int = 0
    alias: str = SERVING_ALIAS
    search_seconds: float = 120.0  # the time budget of a search the training settings ask for


def retrain(
    registry: Registry,
    ledger: RunLedger,
    upload: Upload,
    read: Callable[[], bytes],
    settings: RetrainSettings,
) -> ModelEvent:
    """Handle one upload exactly once; a repeat returns the recorded outcome unchanged.

    `read` returns the object's bytes or raises InvalidData (gone, too large). Storage
    failures propagate, so the invocation fails and the notification is redelivered.
    """
    claim = ledger.claim(run_path(upload.model, upload.name, upload.generation), upload.dataset)
    if claim.outcome is not None:
        return ModelEvent.from_data(claim.outcome)
    production = read_production(registry, upload.model, settings.alias)
    try:
        dataset, validation = validate_csv(read(), Schema.of(production.model), settings.rules)
    except InvalidData as invalid:
        event = _invalid(upload, production, invalid.report)
        return ModelEvent.from_data(ledger.finish(claim, event.data()))
    # Reading and validating a large file takes seconds: say so before training, so a
    # duplicate delivery does not take this live attempt for a dead one.
    claim = ledger.heartbeat(claim)
    # Valid data has a target that varies, so at least 2 rows: one can always be held out.
    split = seeded_split(dataset, settings.holdout_fraction, settings.seed)
    training = read_settings(registry, upload.model)
    candidate, run, claim = _candidate(
        registry, ledger, claim, upload, split, dataset, validation, settings, production
    )
    # A report means an earlier attempt decided and died before recording it: its decision.
    report = registry.report_if_any(upload.model, candidate.version)
    if report is None:
        gate = training.gate(settings.seed)
        promotion = gate_and_promote(
            registry, candidate, split.holdout, production, settings.alias, gate=gate
        )
        report = write_report(registry, candidate, split.holdout, validation, promotion, run)
    event = _decided(upload, candidate, report["gate"])
    return ModelEvent.from_data(ledger.finish(claim, event.data()))


def _candidate(
    registry: Registry,
    ledger: RunLedger,
    claim: Claim,
    upload: Upload,
    split: Split,
    dataset: Dataset,
    validation: ValidationReport,
    settings: RetrainSettings,
    production: Production,
) -> tuple[ModelArtifact, TrainingRun | None, Claim]:
    """The version this upload registered before (no run: that attempt died with it), else a
    newly trained and registered one with the run that trained it."""
    version = claim.version
    if version is None and claim.resumed:
        version = registry.find_version(upload.model, "dataset", _lineage_dataset(upload))
        if version is not None:
            claim = ledger.heartbeat(claim, version=version)
    if version is not None:
        return registry.load(upload.model, version), None, claim
    # The model's training settings, else production's family and parameters; a search
    # only when the settings ask for one.
    training = read_settings(registry, upload.model)
    spec = training.spec(settings.seed, production.model)
    search = training.search_settings(settings.search_seconds)
    lineage = {
        "dataset": _lineage_dataset(upload),
        "split": {
            "method": "seeded shuffle",
            "holdout_fraction": settings.holdout_fraction,
            "seed": settings.seed,
        },
    }
    run = train_on_split(
        split, upload.model, spec, validation, dataset.fingerprint(), lineage, search=search
    )
    claim = ledger.heartbeat(claim)  # still ours: nobody took over while we trained
    candidate = registry.register(run.artifact)
    return candidate, run, ledger.heartbeat(claim, version=candidate.version)


def _lineage_dataset(upload: Upload) -> dict[str, Any]:
    return {"uri": upload.uri, "generation": str(upload.generation)}


def _invalid(upload: Upload, production: Production, report: ValidationReport) -> ModelEvent:
    return ModelEvent(
        event=INVALID_DATA,
        model=upload.model,
        version=None,
        production_version=production.version,
        dataset=upload.dataset,
        reasons=[*report.errors, *report.warnings],  # a warning can say where to look
        trigger=trigger_of(upload.name),
    )


def _decided(upload: Upload, candidate: ModelArtifact, gate: dict[str, Any]) -> ModelEvent:
    """The event of a gate's decision, as its report records it."""
    return ModelEvent(
        event=PROMOTED if gate.get("promoted") else REJECTED,
        model=upload.model,
        version=candidate.version,
        production_version=gate.get("serving_version"),
        dataset=upload.dataset,
        metrics={
            "candidate": gate.get("candidate_metrics"),
            "production": gate.get("production_metrics"),
        },
        reasons=list(gate.get("reasons", [])) + _rollout_reason(gate.get("rollout_ended")),
        rollout_ended=gate.get("rollout_ended"),
        trigger=trigger_of(upload.name),
    )


def _rollout_reason(ended: dict[str, Any] | None) -> list[str]:
    if ended is None:
        return []
    return [
        f"the rollout of version {ended['version']} at {ended['percent']:g}% ended: "
        "the new production serves all traffic"
    ]
