"""Upload bodies for the continuous-training tests: strong, noisy and malformed datasets."""

from __future__ import annotations

import numpy as np

from model.dataset import Dataset, load_diabetes, to_csv


def stronger(seed: int = 0, slope: float = 2000.0, noise: float = 5.0) -> bytes:
    """The diabetes bmi values with a much stronger linear relation than the real target."""
    rng = np.random.default_rng(seed)
    x = load_diabetes().X
    y = slope * x[:, 0] + 150.0 + rng.normal(0.0, noise, x.shape[0])
    return to_csv(Dataset(("bmi",), x, y)).encode()


def noise(seed: int = 0) -> bytes:
    """The diabetes bmi values with a target that is pure noise."""
    rng = np.random.default_rng(seed)
    x = load_diabetes().X
    y = np.asarray(rng.normal(150.0, 70.0, x.shape[0]))
    return to_csv(Dataset(("bmi",), x, y)).encode()


def other_features(rows: int = 120, seed: int = 0) -> bytes:
    """A new model's data: two features of its own."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, size=(rows, 2))
    y = 3.0 * X[:, 0] - 2.0 * X[:, 1] + rng.normal(0.0, 0.3, rows)
    return to_csv(Dataset(("temperature", "pressure"), X, y)).encode()


# Malformed uploads (docs/training.md), each with the start of the reason a person sees.
MALFORMED = {
    "no-target.csv": (
        b"bmi,progression\n" + b"0.1,150\n" * 40,
        "the header has no column 'target'",
    ),
    "text-in-number.csv": (
        b"bmi,target\n" + b"0.1,150\n" * 10 + b"0.2,high\n" + b"0.3,170\n" * 30,
        "line 12, column 'target': 'high' is not a number",
    ),
    "empty-cells.csv": (
        b"bmi,target\n" + b"0.1,150\n" * 5 + b",160\n" + b"0.3,\n" + b"0.2,140\n" * 30,
        "line 7, column 'bmi': empty cell, expected a number",
    ),
    "three-rows.csv": (b"bmi,target\n0.1,150\n0.2,160\n0.3,170\n", "3 data rows: at least 30"),
    "binary.csv": (bytes(range(256)) * 4, "the file is binary (a zero byte at offset 0)"),
    "empty.csv": (b"", "the file is empty"),
}
