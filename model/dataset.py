"""Tabular data sets: the bundled diabetes data, CSV files, splits and fingerprints."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass

import numpy as np

TARGET = "target"
DEFAULT_FEATURES = ("bmi",)
# The bundled data's ten features, in its order.
DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
DEFAULT_HOLDOUT_ROWS = 20


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


def load_diabetes(features: tuple[str, ...] = DEFAULT_FEATURES) -> Dataset:
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


def holdout_split(dataset: Dataset, holdout_rows: int = DEFAULT_HOLDOUT_ROWS) -> Split:
    """The last `holdout_rows` rows are held out, as the Flask app this project replaces did."""
    if not 0 < holdout_rows < dataset.rows:
        raise DatasetError(
            f"cannot hold out {holdout_rows} of {dataset.rows} rows: need 0 < holdout < rows"
        )
    cut = dataset.rows - holdout_rows
    return Split(
        train=Dataset(dataset.features, dataset.X[:cut], dataset.y[:cut]),
        holdout=Dataset(dataset.features, dataset.X[cut:], dataset.y[cut:]),
    )


def seeded_split(dataset: Dataset, holdout_fraction: float, seed: int) -> Split:
    """Hold out a seeded random share of the rows: the same data and seed, the same rows."""
    holdout_rows = min(max(1, round(dataset.rows * holdout_fraction)), dataset.rows - 1)
    if dataset.rows < 2:
        raise DatasetError(f"cannot hold out rows of {dataset.rows}: need at least 2 rows")
    order = np.random.default_rng(seed).permutation(dataset.rows)
    train, holdout = np.sort(order[holdout_rows:]), np.sort(order[:holdout_rows])
    return Split(
        train=Dataset(dataset.features, dataset.X[train], dataset.y[train]),
        holdout=Dataset(dataset.features, dataset.X[holdout], dataset.y[holdout]),
    )


def to_csv(dataset: Dataset) -> str:
    """The bundled data as an upload: the header, then one row of numbers per example."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*dataset.features, TARGET))
    for features, target in zip(dataset.X.tolist(), dataset.y.tolist(), strict=True):
        writer.writerow((*map(repr, features), repr(target)))
    return out.getvalue()
