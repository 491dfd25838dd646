"""One training run: validate, split, fit, evaluate and package an unregistered artifact."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from model.artifact import ModelArtifact
from model.dataset import SEED_HOLDOUT_ROWS, Dataset, DatasetError, Split, holdout_split
from model.metrics import regression_metrics
from model.statistics import reference_statistics
from model.trainer import TrainingParameters, fit
from model.validation import ValidationReport, validate


class ValidationFailed(DatasetError):
    """The data set did not pass validation; `report` lists every reason."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__("; ".join(report.errors))
        self.report = report


@dataclass(frozen=True)
class TrainingRun:
    """An artifact not yet registered (version 0) and what the report needs."""

    artifact: ModelArtifact
    split: Split
    validation: ValidationReport

    def holdout_predictions(self) -> Any:
        return self.artifact.predict(self.split.holdout.X)


def train(
    dataset: Dataset,
    name: str,
    params: TrainingParameters | None = None,
    holdout_rows: int = SEED_HOLDOUT_ROWS,
    expected_features: tuple[str, ...] | None = None,
    reference: dict[str, dict[str, Any]] | None = None,
) -> TrainingRun:
    """Train on all but the last `holdout_rows` rows and evaluate on those."""
    params = params or TrainingParameters()
    validation = validate(dataset, expected_features=expected_features, reference=reference)
    if not validation.ok:
        raise ValidationFailed(validation)
    split = holdout_split(dataset, holdout_rows)
    fitted = fit(split.train.X, split.train.y, params)
    artifact = ModelArtifact(
        name=name,
        version=0,
        features=dataset.features,
        weights=tuple(float(w) for w in fitted.weights),
        bias=float(fitted.bias),
        mean=tuple(float(m) for m in fitted.mean),
        scale=tuple(float(s) for s in fitted.scale),
        reference=reference_statistics(split.train.X, dataset.features, seed=params.seed),
        metrics={},
        lineage={
            "data_sha256": dataset.fingerprint(),
            "rows": dataset.rows,
            "train_rows": split.train.rows,
            "holdout_rows": split.holdout.rows,
            "parameters": params.as_dict(),
            "seed": params.seed,
            "iterations": fitted.iterations,
            "converged": fitted.converged,
            "code_version": code_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    metrics = regression_metrics(split.holdout.y, artifact.predict(split.holdout.X))
    artifact = replace(artifact, metrics=metrics)
    return TrainingRun(artifact=artifact, split=split, validation=validation)


@cache
def code_version() -> str:
    """A digest of the model package's source: which code trained a model."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
