"""Tabular data sets: the bundled diabetes data, CSV files, splits and fingerprints."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass

import numpy as np

TARGET = "target"
SEED_FEATURES = ("bmi",)
SEED_HOLDOUT_ROWS = 20


class DatasetError(ValueError):
    """The data cannot be used: the message names the column or row at fault."""


@dataclass(frozen=True)
class Dataset:
    """Feature matrix, target vector and the names of the feature columns."""

    features: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])

    def fingerprint(self) -> str:
        """sha256 of the exact values, so a report says which data trained a model."""
        digest = hashlib.sha256()
        digest.update(",".join((*self.features, TARGET)).encode())
        digest.update(np.ascontiguousarray(self.X, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.y, dtype="<f8").tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class Split:
    train: Dataset
    holdout: Dataset


def load_diabetes(features: tuple[str, ...] = SEED_FEATURES) -> Dataset:
    """scikit-learn's bundled diabetes data (no download), restricted to `features`."""
    from sklearn.datasets import load_diabetes as sklearn_diabetes

    bunch = sklearn_diabetes()
    names = list(bunch.feature_names)
    unknown = [name for name in features if name not in names]
    if unknown:
        raise DatasetError(f"unknown diabetes features {unknown}; choose from {names}")
    columns = [names.index(name) for name in features]
    return Dataset(
        features=tuple(features),
        X=np.asarray(bunch.data[:, columns], dtype=np.float64),
        y=np.asarray(bunch.target, dtype=np.float64),
    )


def holdout_split(dataset: Dataset, holdout_rows: int = SEED_HOLDOUT_ROWS) -> Split:
    """The last `holdout_rows` rows are held out, as the seed application did."""
    if not 0 < holdout_rows < dataset.rows:
        raise DatasetError(
            f"cannot hold out {holdout_rows} of {dataset.rows} rows: need 0 < holdout < rows"
        )
    cut = dataset.rows - holdout_rows
    return Split(
        train=Dataset(dataset.features, dataset.X[:cut], dataset.y[:cut]),
        holdout=Dataset(dataset.features, dataset.X[cut:], dataset.y[cut:]),
    )


def read_csv(text: str) -> Dataset:
    """Parse a training CSV: a header naming the features and `target`, numeric cells."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise DatasetError("the CSV is empty: expected a header with the features and 'target'")
    header = [name.strip() for name in header]
    if TARGET not in header:
        raise DatasetError(f"the CSV header has no '{TARGET}' column: {header}")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DatasetError(f"the CSV header repeats columns {duplicated}")
    if any(not name for name in header):
        raise DatasetError("the CSV header has an empty column name")
    rows = [row for row in reader if row]
    values = _numeric_cells(header, rows)
    target_column = header.index(TARGET)
    feature_columns = [i for i, name in enumerate(header) if name != TARGET]
    if not feature_columns:
        raise DatasetError("the CSV has no feature columns besides 'target'")
    return Dataset(
        features=tuple(header[i] for i in feature_columns),
        X=values[:, feature_columns],
        y=values[:, target_column],
    )


def _numeric_cells(header: list[str], rows: list[list[str]]) -> np.ndarray:
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DatasetError(f"line {line}: {len(row)} cells, the header has {len(header)}")
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    except ValueError:
        pass
    # The fast conversion failed: find the first bad cell to name it.
    for line, row in enumerate(rows, start=2):
        for name, cell in zip(header, row, strict=True):
            try:
                float(cell)
            except ValueError:
                raise DatasetError(
                    f"line {line}, column '{name}': not a number: {cell!r}"
                ) from None
    raise DatasetError("the CSV cells are not all numbers")  # pragma: no cover


def to_csv(dataset: Dataset) -> str:
    """The inverse of read_csv, used to export the bundled data for uploads."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*dataset.features, TARGET))
    for features, target in zip(dataset.X.tolist(), dataset.y.tolist(), strict=True):
        writer.writerow((*map(repr, features), repr(target)))
    return out.getvalue()
