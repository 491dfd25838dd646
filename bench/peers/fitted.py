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
from model.dataset import Split, load_diabetes
from model.training import Protocol

# The peers must compute what predict_batch computes, or the comparison is not fair.
TOLERANCE = 1e-9


def write(directory: Path, served: ModelArtifact) -> Path:
    """Fit on the served model's training rows, check it predicts as the served model does on
    the held-out rows, and dump it into directory."""
    split = _training_split(served)
    estimator = LinearRegression().fit(split.train.X, split.train.y)
    ours = served.predict(split.holdout.X)
    gap = float(np.max(np.abs(estimator.predict(split.holdout.X) - ours)))
    assert gap <= TOLERANCE, f"the peers' model differs from the served one by {gap:g}"
    path = directory / "model.joblib"
    joblib.dump(estimator, path)
    return path


def _training_split(served: ModelArtifact) -> Split:
    """The split that trained the served model, as its lineage records it."""
    recorded = served.lineage["split"]
    if recorded["method"] == "last rows":
        protocol = Protocol(test_rows=recorded["test_rows"])
    else:
        protocol = Protocol(test_fraction=recorded["test_fraction"])
    return protocol.split(load_diabetes(served.features), recorded["seed"])
