"""Data validation before training: every reason names the column, the line and what was expected.

One module for every way data arrives: `mlctl train --csv` and `retrain` hand over the
uploaded bytes (`validate_csv`); the bundled data, numbers already, goes through `validate`.
An upload needs the model's features and `target`; extra columns are named in a warning and
ignored, so a wider export of the same table trains the model's own features. Errors refuse
the data; warnings are recorded with the model it trains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.artifact import ModelArtifact
from model.csv_text import Table, UnreadableData, decode, parse
from model.dataset import TARGET, Dataset, DatasetError

MIN_ROWS = 30
MAX_BYTES = 64 * 1024 * 1024
# A value this many reference standard deviations from the reference mean is far out.
OUTLIER_SIGMAS = 6.0
# Past this share of rows with a far-out value, the data is refused, not just flagged.
OUTLIER_REJECT_SHARE = 0.05


@dataclass(frozen=True)
class Rules:
    """The thresholds of validation (functions/platform/config.py reads them from the env)."""

    min_rows: int = MIN_ROWS
    max_bytes: int = MAX_BYTES
    outlier_sigmas: float = OUTLIER_SIGMAS
    outlier_reject_share: float = OUTLIER_REJECT_SHARE
    # Cells named per kind of problem; the rest are counted in one more reason.
    examples: int = 3


@dataclass(frozen=True)
class Schema:
    """What data must match: the served version's features and training reference, if any."""

    features: tuple[str, ...] | None = None
    reference: Mapping[str, Mapping[str, Any]] | None = None
    source: str = "the production version"

    @classmethod
    def of(cls, production: ModelArtifact | None) -> Schema:
        """A new model (no production version) takes every column but 'target' as a feature."""
        if production is None:
            return cls()
        return cls(
            production.features, production.reference, f"production version {production.version}"
        )


@dataclass(frozen=True)
class ValidationReport:
    """Errors stop training; warnings are reported with the model; facts describe the data."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": self.errors, "warnings": self.warnings, **self.facts}


class InvalidData(DatasetError):
    """The data did not pass validation; `report` lists every reason."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__("; ".join(report.errors))
        self.report = report


def validate_csv(
    data: bytes, schema: Schema | None = None, rules: Rules | None = None
) -> tuple[Dataset, ValidationReport]:
    """The dataset in the bytes and its report; InvalidData with every reason otherwise."""
    schema, rules = schema or Schema(), rules or Rules()
    try:
        table = parse(decode(data, rules.max_bytes))
    except UnreadableData as error:
        raise InvalidData(ValidationReport([str(error)], facts={"bytes": len(data)})) from None
    errors: list[str] = []
    warnings: list[str] = []
    columns = _columns(table.header, schema, errors, warnings)
    if columns is None:
        raise InvalidData(ValidationReport(errors, warnings, {"bytes": len(data)}))
    features, indexes = columns
    values = _numbers(table, indexes, rules.examples, errors)
    if errors:
        raise InvalidData(ValidationReport(errors, warnings, {"bytes": len(data)}))
    dataset = Dataset(features, values[:, :-1], values[:, -1])
    report = validate(dataset, schema, rules, table.lines)
    report = ValidationReport(
        report.errors,
        warnings + report.warnings,
        {"bytes": len(data), **report.facts},
    )
    if not report.ok:
        raise InvalidData(report)
    return dataset, report


def validate(
    dataset: Dataset,
    schema: Schema | None = None,
    rules: Rules | None = None,
    lines: Sequence[int] | None = None,
) -> ValidationReport:
    """Rules on the numbers: enough rows, finite values, a target that varies, duplicates,
    and values far outside the reference. `lines` maps each row to its line in the file."""
    schema, rules = schema or Schema(), rules or Rules()
    errors: list[str] = []
    warnings: list[str] = []
    if schema.features is not None and tuple(schema.features) != dataset.features:
        errors.append(
            f"columns {list(dataset.features)} do not match the features "
            f"{list(schema.features)} of {schema.source}"
        )
    if dataset.rows < rules.min_rows:
        rows = f"{dataset.rows} data row" + ("" if dataset.rows == 1 else "s")
        errors.append(f"{rows}: at least {rules.min_rows} are needed to train and evaluate a model")
    for name, column in (*zip(dataset.features, dataset.X.T, strict=True), (TARGET, dataset.y)):
        bad = int(np.count_nonzero(~np.isfinite(column)))
        if bad:
            errors.append(f"column '{name}': {bad} missing or non-finite values")
    if dataset.rows and np.all(np.isfinite(dataset.y)) and np.ptp(dataset.y) == 0:
        errors.append(
            f"column '{TARGET}' is constant ({dataset.y[0]:g} in every row): there is nothing "
            "to learn; expected target values that vary"
        )
    facts: dict[str, Any] = {"rows": dataset.rows, "features": list(dataset.features)}
    facts["duplicate_rows"] = _duplicates(dataset, lines, warnings)
    if schema.reference and not errors:
        facts["far_rows"] = _far_values(dataset, schema, rules, lines, errors, warnings)
    return ValidationReport(errors=errors, warnings=warnings, facts=facts)


def _columns(
    header: list[str], schema: Schema, errors: list[str], warnings: list[str]
) -> tuple[tuple[str, ...], list[int]] | None:
    """The feature names and the column indexes of the features then 'target', or None."""
    for position, name in enumerate(header, start=1):
        if not name:
            errors.append(f"line 1, column {position}: the header has an empty column name")
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    errors.extend(f"line 1: the header repeats column '{name}'" for name in repeated)
    features = schema.features
    if features is None:
        features = tuple(name for name in header if name and name != TARGET)
        if not features and TARGET in header:
            errors.append(
                f"line 1: the header has only '{TARGET}': expected at least one feature column"
            )
    expected = ", ".join(f"'{name}'" for name in (*features, TARGET))
    missing = [name for name in (*features, TARGET) if name not in header]
    for name in missing:
        what = "the target" if name == TARGET else f"a feature of {schema.source}"
        errors.append(
            f"line 1: the header has no column '{name}' ({what}): expected the columns "
            f"{expected}, found {', '.join(repr(cell) for cell in header)}"
        )
    if errors:
        return None
    for name in header:
        if name not in features and name != TARGET:
            warnings.append(
                f"line 1: column '{name}' is not a feature of {schema.source} and is ignored"
            )
    return tuple(features), [header.index(name) for name in (*features, TARGET)]


def _numbers(table: Table, indexes: list[int], examples: int, errors: list[str]) -> np.ndarray:
    """The selected cells as floats; each unusable cell (up to `examples` a kind) an error."""
    width = len(table.header)
    problems: dict[str, list[str]] = {"cells": [], "empty": [], "text": [], "infinite": []}
    values = np.zeros((len(table.rows), len(indexes)), dtype=np.float64)
    for row_index, (line, row) in enumerate(zip(table.lines, table.rows, strict=True)):
        if len(row) != width:
            problems["cells"].append(
                f"line {line}: {len(row)} cells, expected {width} as in the header"
            )
            continue
        for column_index, cell_index in enumerate(indexes):
            name, cell = table.header[cell_index], row[cell_index]
            where = f"line {line}, column '{name}'"
            if not cell:
                problems["empty"].append(f"{where}: empty cell, expected a number")
                continue
            try:
                value = float(cell)
            except ValueError:
                problems["text"].append(f"{where}: {_shown(cell)} is not a number")
                continue
            if not np.isfinite(value):
                problems["infinite"].append(f"{where}: {_shown(cell)} is not a finite number")
                continue
            values[row_index, column_index] = value
    for kind, found in problems.items():
        errors.extend(found[:examples])
        if len(found) > examples:
            errors.append(f"{len(found) - examples} more {_KINDS[kind]} like the ones above")
    return values


_KINDS = {
    "cells": "lines with the wrong number of cells",
    "empty": "empty cells",
    "text": "cells that are not numbers",
    "infinite": "cells that are not finite numbers",
}


def _shown(cell: str) -> str:
    return repr(cell if len(cell) <= 40 else cell[:40] + "...")


def _where(row: int, lines: Sequence[int] | None) -> str:
    return f"line {lines[row]}" if lines is not None else f"row {row + 1}"


def _duplicates(dataset: Dataset, lines: Sequence[int] | None, warnings: list[str]) -> int:
    """Rows that repeat an earlier row exactly: counted and flagged, not refused."""
    if dataset.rows == 0:
        return 0
    table = np.column_stack((dataset.X, dataset.y))
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    originals = first[inverse.reshape(-1)]  # each row's first occurrence
    repeats = np.flatnonzero(originals != np.arange(dataset.rows))
    if len(repeats):
        row = int(repeats[0])
        original = int(originals[row])
        warnings.append(
            f"{len(repeats)} rows repeat an earlier row exactly (first: {_where(row, lines)} "
            f"repeats {_where(original, lines)}); each copy counts again in training"
        )
    return len(repeats)


def _far_values(
    dataset: Dataset,
    schema: Schema,
    rules: Rules,
    lines: Sequence[int] | None,
    errors: list[str],
    warnings: list[str],
) -> int:
    """Rows with a value far outside the reference: flagged, refused past the allowed share."""
    reference = schema.reference or {}
    far_rows = np.zeros(dataset.rows, dtype=bool)
    flagged = []
    for column, name in enumerate(dataset.features):
        stats = reference.get(name) or {}
        mean, std = float(stats.get("mean", 0.0)), float(stats.get("std", 0.0))
        if not std > 0:
            continue
        far = np.abs(dataset.X[:, column] - mean) / std > rules.outlier_sigmas
        count = int(np.count_nonzero(far))
        if not count:
            continue
        far_rows |= far
        flagged.append(name)
        row = int(np.argmax(far))
        warnings.append(
            f"column '{name}': {count} of {dataset.rows} values lie more than "
            f"{rules.outlier_sigmas:g} standard deviations from the training mean of "
            f"{schema.source} ({mean:.4g} ± {std:.4g}), e.g. {_where(row, lines)}: "
            f"{dataset.X[row, column]:g}"
        )
    total = int(np.count_nonzero(far_rows))
    if dataset.rows and total / dataset.rows > rules.outlier_reject_share:
        names = ", ".join(f"'{name}'" for name in flagged)
        errors.append(
            f"{total} of {dataset.rows} rows ({total / dataset.rows:.1%}) hold values far "
            f"outside the training data of {schema.source}, more than the "
            f"{rules.outlier_reject_share:.1%} allowed: check the units and scale of {names}"
        )
    return total
