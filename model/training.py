"""One training run (docs/evaluation.md): validate, hold out the test split, cross-validate on
the rest, fit the final model on all of the rest, score it once on the test split, draw its
learning curve on the rest, and package an unregistered artifact."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from model.artifact import ModelArtifact
from model.dataset import Dataset, Split, holdout_split, seeded_split
from model.estimator import TrainingSpec, fit
from model.evaluation import CrossValidation, CvScheme, cross_validate
from model.learning_curve import LearningCurve, learning_curve
from model.metrics import regression_metrics
from model.search import SearchResult, SearchSettings
from model.search import search as run_search
from model.statistics import reference_statistics
from model.validation import InvalidData, Schema, ValidationReport, validate

DEFAULT_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Protocol:
    """How a run is evaluated: a seeded test split (or the last `test_rows` rows, as the app
    this project replaces held out) and repeated k-fold cross-validation on the rest."""

    test_fraction: float = DEFAULT_TEST_FRACTION
    test_rows: int | None = None
    cv: CvScheme = field(default_factory=CvScheme)

    def split(self, dataset: Dataset, seed: int) -> Split:
        if self.test_rows is not None:
            return holdout_split(dataset, self.test_rows)
        return seeded_split(dataset, self.test_fraction, seed)

    def describe(self) -> dict[str, Any]:
        if self.test_rows is not None:
            return {"method": "last rows", "test_rows": self.test_rows}
        return {"method": "seeded shuffle", "test_fraction": self.test_fraction}


@dataclass(frozen=True)
class TrainingRun:
    """An artifact not yet registered (version 0) and what the report needs."""

    artifact: ModelArtifact
    split: Split  # `holdout` is the test split
    validation: ValidationReport
    pipeline: Any  # the fitted scikit-learn Pipeline the artifact serves
    evaluation: dict[str, Any]  # report.json's `evaluation`
    cross_validation: CrossValidation
    learning_curve: LearningCurve
    search: SearchResult | None = None  # when the spec was chosen by a search


def train(
    dataset: Dataset,
    name: str,
    spec: TrainingSpec | None = None,
    protocol: Protocol | None = None,
    schema: Schema | None = None,
    validation: ValidationReport | None = None,
    search: SearchSettings | None = None,
) -> TrainingRun:
    """Validate (unless `validation` is the report of data already validated), then
    evaluate and train by `protocol`; with `search`, the family and parameters it finds
    take the place of `spec`'s (its seed stays)."""
    spec = spec or TrainingSpec()
    protocol = protocol or Protocol()
    if validation is None:
        validation = validate(dataset, schema)
    if not validation.ok:
        raise InvalidData(validation)
    split = protocol.split(dataset, spec.seed)
    lineage = {"split": {**protocol.describe(), "seed": spec.seed}}
    return train_on_split(
        split, name, spec, validation, dataset.fingerprint(), lineage, protocol.cv, search
    )


# scikit-learn's native threads (OpenMP in gradient boosting) for the many small fits of a
# training run: measured, the first `diabetes` model trains in 3.2 s on two threads and in
# 1.3 s on one, and threads oversubscribe cores other processes share.
TRAINING_THREADS = 1


def train_on_split(
    split: Split,
    name: str,
    spec: TrainingSpec | None,
    validation: ValidationReport,
    data_sha256: str,
    lineage: dict[str, Any] | None = None,
    cv: CvScheme | None = None,
    search: SearchSettings | None = None,
) -> TrainingRun:
    """Search (if asked) and cross-validate on the training rows, fit on all of them, score
    on the test split; `lineage` adds to the record. The learning curve is drawn here, not
    when the report is written: a family that fails on fewer rows fails the run before it
    registers anything, never a version the gate already promoted."""
    with threadpool_limits(TRAINING_THREADS):
        return _train_on_split(split, name, spec, validation, data_sha256, lineage, cv, search)


def _train_on_split(
    split: Split,
    name: str,
    spec: TrainingSpec | None,
    validation: ValidationReport,
    data_sha256: str,
    lineage: dict[str, Any] | None,
    cv: CvScheme | None,
    search: SearchSettings | None,
) -> TrainingRun:
    spec = spec or TrainingSpec()
    cv = cv or CvScheme()
    train_rows, test = split.train, split.holdout
    found = None
    if search is not None:
        found = run_search(train_rows.X, train_rows.y, replace(search, cv=cv), spec.seed)
        spec = found.spec(spec.seed)
        cross_validation = found.winner.cross_validation  # the same folds: no need to refit
    else:
        cross_validation = cross_validate(
            spec.family, dict(spec.params), train_rows.X, train_rows.y, cv, spec.seed
        )
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
            "rows": train_rows.rows + test.rows,
            "train_rows": train_rows.rows,
            "holdout_rows": test.rows,
            "parameters": spec.as_dict(),
            "seed": spec.seed,
            "code_version": code_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **(lineage or {}),
        },
    )
    metrics = regression_metrics(test.y, artifact.predict(test.X))
    curve = learning_curve(
        spec.family, dict(spec.params), train_rows.X, train_rows.y, cv, spec.seed
    )
    evaluation = {
        "test_fraction": round(test.rows / (train_rows.rows + test.rows), 6),
        "test_rows": test.rows,
        "cv": cross_validation.as_dict(),
        "test": {key: metrics[key] for key in ("r2", "rmse", "mae")},
        "learning_curve": curve.as_dict(),
    }
    if found is not None:
        evaluation["search"] = found.as_dict()
    return TrainingRun(
        replace(artifact, metrics=metrics),
        split,
        validation,
        fitted.pipeline,
        evaluation,
        cross_validation,
        curve,
        found,
    )


@cache
def code_version() -> str:
    """A digest of the model package's source: which code trained a model."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
