"""Reference statistics of the training features, kept in the artifact for monitoring.

Per feature: mean, std, min, max, decile edges, a seeded sample for the Kolmogorov-Smirnov
test, and quantile bins with their training counts for PSI (docs/monitoring.md).
"""

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
    """Per feature: mean, std, min, max, decile edges, bins and a seeded sample of values."""
    rng = np.random.default_rng(seed)
    reference = {}
    for column, name in enumerate(features):
        values = X[:, column]
        take = min(SAMPLE_SIZE, values.shape[0])
        sample = np.sort(rng.choice(values, size=take, replace=False))
        edges = quantile_edges(values)
        reference[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
            "quantiles": [float(q) for q in np.quantile(values, QUANTILES)],
            "sample": [float(v) for v in sample],
            "bins": {
                "edges": [float(edge) for edge in edges],
                "counts": [int(count) for count in bin_counts(edges, values)],
            },
        }
    return reference


def bin_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many values fall in each bin: (-inf, e1], (e1, e2], ..., (ek, +inf)."""
    index = np.searchsorted(edges, values, side="left")
    counts: np.ndarray = np.bincount(index, minlength=len(edges) + 1)
    return counts


def quantile_edges(values: np.ndarray, quantiles: tuple[float, ...] = QUANTILES) -> np.ndarray:
    """Interior bin edges at the training quantiles, with no bin left empty.

    Tied values can make two deciles equal or leave a bin between them with no training
    value; such an edge is dropped, merging the empty bin into its neighbour, so every
    reference share is a measured one (a constant feature keeps a single bin).
    """
    edges = np.unique(np.quantile(values, quantiles))
    while True:
        counts = bin_counts(edges, values)
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0 or edges.size == 0:
            return edges
        # Bin i lies between edges i-1 and i: drop the one that merges it with a neighbour.
        drop = min(int(empty[0]), edges.size - 1)
        edges = np.delete(edges, drop)
