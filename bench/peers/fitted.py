"""The peers' model: scikit-learn's LinearRegression fitted on the rows that trained the
served model, pickled with joblib for KServe and MLServer.

Pickle is the peers' format, written into a temporary directory for them alone: the product
never loads one (model/artifact.py is JSON, checked against its sha256 on every load).
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LinearRegression

from model.artifact import ModelArtifact
from model.dataset import holdout_split, load_diabetes

# The peers must compute what predict_batch computes, or the comparison is not fair.
TOLERANCE = 1e-9


def write(directory: Path, served: ModelArtifact) -> Path:
    """Fit on the served model's training rows, check it predicts as the served model does on
    the held-out rows, and dump it into directory."""
    split = holdout_split(load_diabetes(served.features), served.lineage["holdout_rows"])
    estimator = LinearRegression().fit(split.train.X, split.train.y)
    ours = served.predict(split.holdout.X)
    gap = float(np.max(np.abs(estimator.predict(split.holdout.X) - ours)))
    assert gap <= TOLERANCE, f"the peers' model differs from the served one by {gap:g}"
    path = directory / "model.joblib"
    joblib.dump(estimator, path)
    return path
