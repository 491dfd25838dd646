"""One training run: validate, split, fit, evaluate and package an unregistered artifact."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from model.artifact import ModelArtifact
from model.dataset import DEFAULT_HOLDOUT_ROWS, Dataset, Split, holdout_split
from model.estimator import TrainingSpec, fit
from model.metrics import regression_metrics
from model.statistics import reference_statistics
from model.validation import InvalidData, Schema, ValidationReport, validate


@dataclass(frozen=True)
class TrainingRun:
    """An artifact not yet registered (version 0) and what the report needs."""

    artifact: ModelArtifact
    split: Split
    validation: ValidationReport
    pipeline: Any  # the fitted scikit-learn Pipeline the artifact serves


def train(
    dataset: Dataset,
    name: str,
    spec: TrainingSpec | None = None,
    holdout_rows: int = DEFAULT_HOLDOUT_ROWS,
    schema: Schema | None = None,
    validation: ValidationReport | None = None,
) -> TrainingRun:
    """Validate (unless `validation` is the report of data already validated), then train on
    all but the last `holdout_rows` rows and evaluate on those."""
    if validation is None:
        validation = validate(dataset, schema)
    if not validation.ok:
        raise InvalidData(validation)
    split = holdout_split(dataset, holdout_rows)
    method = {"method": "last rows", "holdout_rows": holdout_rows}
    return train_on_split(split, name, spec, validation, dataset.fingerprint(), {"split": method})


def train_on_split(
    split: Split,
    name: str,
    spec: TrainingSpec | None,
    validation: ValidationReport,
    data_sha256: str,
    lineage: dict[str, Any] | None = None,
) -> TrainingRun:
    """Fit on the training rows, evaluate on the held-out ones; `lineage` adds to the record."""
    spec = spec or TrainingSpec()
    train_rows, holdout = split.train, split.holdout
    fitted = fit(train_rows.X, train_rows.y, spec)
    artifact = ModelArtifact(
        name=name,
        version=0,
        features=train_rows.features,
        family=spec.family,
        params=dict(spec.params),
        predictor=fitted.predictor,
        reference=reference_statistics(train_rows.X, train_rows.features, seed=spec.seed),
        metrics={},
        libraries=fitted.libraries,
        lineage={
            "data_sha256": data_sha256,
            "rows": train_rows.rows + holdout.rows,
            "train_rows": train_rows.rows,
            "holdout_rows": holdout.rows,
            "parameters": spec.as_dict(),
            "seed": spec.seed,
            "code_version": code_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **(lineage or {}),
        },
    )
    metrics = regression_metrics(holdout.y, artifact.predict(holdout.X))
    artifact = replace(artifact, metrics=metrics)
    return TrainingRun(artifact, split, validation, fitted.pipeline)


@cache
def code_version() -> str:
    """A digest of the model package's source: which code trained a model."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
