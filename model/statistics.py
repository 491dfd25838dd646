"""Reference statistics of the training features, kept in the artifact for monitoring."""

from __future__ import annotations

from typing import Any

import numpy as np

# Deciles: PSI compares the share of serving values falling in each training decile.
QUANTILES = tuple(round(q / 10, 1) for q in range(1, 10))
# A sample of training values kept for the Kolmogorov-Smirnov test.
SAMPLE_SIZE = 500


def reference_statistics(
    X: np.ndarray, features: tuple[str, ...], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per feature: mean, std, min, max, decile edges and a seeded sample of values."""
    rng = np.random.default_rng(seed)
    reference = {}
    for column, name in enumerate(features):
        values = X[:, column]
        take = min(SAMPLE_SIZE, values.shape[0])
        sample = np.sort(rng.choice(values, size=take, replace=False))
        reference[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
            "quantiles": [float(q) for q in np.quantile(values, QUANTILES)],
            "sample": [float(v) for v in sample],
        }
    return reference
