"""Data validation before training: the guard against training-serving skew."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from model.dataset import Dataset

MIN_ROWS = 30
# A value this many reference standard deviations from the reference mean is flagged.
OUTLIER_SIGMAS = 6.0


@dataclass(frozen=True)
class ValidationReport:
    """Errors stop training; warnings are reported with the model."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(
    dataset: Dataset,
    expected_features: Sequence[str] | None = None,
    reference: Mapping[str, Mapping[str, float]] | None = None,
    min_rows: int = MIN_ROWS,
) -> ValidationReport:
    """Check a data set against the model's schema and its training reference statistics."""
    errors: list[str] = []
    warnings: list[str] = []
    if expected_features is not None and tuple(expected_features) != dataset.features:
        errors.append(
            f"columns {list(dataset.features)} do not match the model's features "
            f"{list(expected_features)}"
        )
    if dataset.rows < min_rows:
        errors.append(f"{dataset.rows} rows, at least {min_rows} are needed")
    for column, name in enumerate(dataset.features):
        bad = int(np.count_nonzero(~np.isfinite(dataset.X[:, column])))
        if bad:
            errors.append(f"column '{name}': {bad} missing or non-finite values")
    bad_targets = int(np.count_nonzero(~np.isfinite(dataset.y)))
    if bad_targets:
        errors.append(f"column 'target': {bad_targets} missing or non-finite values")
    elif dataset.rows and np.ptp(dataset.y) == 0:
        errors.append("column 'target' is constant: there is nothing to learn")
    if reference and not errors:
        warnings.extend(_outliers(dataset, reference))
    return ValidationReport(errors=errors, warnings=warnings)


def _outliers(dataset: Dataset, reference: Mapping[str, Mapping[str, float]]) -> list[str]:
    warnings = []
    for column, name in enumerate(dataset.features):
        stats = reference.get(name)
        if not stats or not stats.get("std"):
            continue
        distance = np.abs(dataset.X[:, column] - stats["mean"]) / stats["std"]
        far = int(np.count_nonzero(distance > OUTLIER_SIGMAS))
        if far:
            warnings.append(
                f"column '{name}': {far} values more than {OUTLIER_SIGMAS:g} standard "
                "deviations from the training reference"
            )
    return warnings
