"""Fitting a model family (model/families.py) and turning the fit into what is served.

The hand-written gradient descent of the first versions is gone: every family is fitted by
scikit-learn, with the run's seed, so the same data and settings give the same weights and
the same model.onnx bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model import export
from model.artifact import Predictor
from model.families import DEFAULT_FAMILY, fit_pipeline, pipeline


@dataclass(frozen=True)
class TrainingSpec:
    """What to train: a family, its parameters (scikit-learn's names) and the seed."""

    family: str = DEFAULT_FAMILY
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def checked(self) -> TrainingSpec:
        """Itself, once its family and parameter names are known; FamilyError if not."""
        pipeline(self.family, self.params, self.seed)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "params": dict(self.params), "seed": self.seed}


@dataclass(frozen=True)
class Fitted:
    pipeline: Any  # the fitted scikit-learn Pipeline: what the served predictor must equal
    predictor: Predictor
    libraries: dict[str, str]


def fit(X: np.ndarray, y: np.ndarray, spec: TrainingSpec | None = None) -> Fitted:
    """Fit the family's pipeline; FamilyError for a setting scikit-learn refuses."""
    spec = spec or TrainingSpec()
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(f"need X of shape (n, k) and y of shape (n,), got {X.shape} and {y.shape}")
    fitted = fit_pipeline(pipeline(spec.family, spec.params, spec.seed), X, y, spec.family)
    return Fitted(
        pipeline=fitted,
        predictor=export.predictor(fitted, spec.family, X.shape[1]),
        libraries=export.libraries(spec.family),
    )
