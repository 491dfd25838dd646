"""The estimator families a model can be trained as, and their parameters (docs/models.md).

Each family is one scikit-learn regressor inside a Pipeline. The linear families put a
StandardScaler before it: a penalty on unscaled features would weigh each feature by its
unit. Trees need no scaling. Parameters are scikit-learn's own names, checked against the
estimator before any fitting; their values are checked by scikit-learn when it fits.

scikit-learn is imported only when a pipeline is built: serving never trains, and the
import costs a cold start seconds.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

DEFAULT_FAMILY = "linear"


class FamilyError(ValueError):
    """An unknown family or parameter, or a value scikit-learn refuses: nothing is trained."""


@dataclass(frozen=True)
class Family:
    name: str
    estimator: str  # module.Class in scikit-learn
    linear: bool  # standardised first, served as weights (linear-json); else an ONNX graph
    seeded: bool  # takes random_state: the run's seed makes it repeatable

    def new_estimator(self, params: Mapping[str, Any], seed: int) -> Any:
        module, _, cls = self.estimator.rpartition(".")
        estimator = getattr(importlib.import_module(module), cls)()
        check_params(self, params, estimator.get_params())
        fixed = {"random_state": seed} if self.seeded else {}
        return estimator.set_params(**{**fixed, **params})


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("linear", "sklearn.linear_model.LinearRegression", linear=True, seeded=False),
        Family("ridge", "sklearn.linear_model.Ridge", linear=True, seeded=True),
        Family("lasso", "sklearn.linear_model.Lasso", linear=True, seeded=True),
        Family("elastic_net", "sklearn.linear_model.ElasticNet", linear=True, seeded=True),
        Family(
            "hist_gradient_boosting",
            "sklearn.ensemble.HistGradientBoostingRegressor",
            linear=False,
            seeded=True,
        ),
        Family(
            "random_forest", "sklearn.ensemble.RandomForestRegressor", linear=False, seeded=True
        ),
    )
}
# Parameters a family's estimator has but a user may not set: they would make the run
# unrepeatable (its seed is the run's), or change where the work runs, not the model.
_RESERVED = frozenset({"random_state", "n_jobs", "verbose", "warm_start", "copy_X"})


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise FamilyError(f"unknown family {name!r}: use one of {', '.join(FAMILIES)}") from None


def check_params(family: Family, params: Mapping[str, Any], known: Iterable[str]) -> None:
    settable = sorted(set(known) - _RESERVED)
    for name in params:
        if name in _RESERVED:
            raise FamilyError(f"family {family.name}: parameter {name!r} is set by the platform")
        if name not in settable:
            raise FamilyError(
                f"family {family.name}: unknown parameter {name!r}; "
                f"its parameters are {', '.join(settable)}"
            )


def parse_params(assignments: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs; a value is read as JSON (0.5, 100, true, null) or else a string."""
    params: dict[str, Any] = {}
    for assignment in assignments:
        key, sign, text = assignment.partition("=")
        if not sign or not key.strip():
            raise FamilyError(f"parameter {assignment!r}: use KEY=VALUE")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if isinstance(value, (list, dict)):
            raise FamilyError(f"parameter {key}: a single number, string, true, false or null")
        params[key.strip()] = value
    return params


def pipeline(name: str, params: Mapping[str, Any], seed: int) -> Pipeline:
    """The unfitted Pipeline of a family: FamilyError for an unknown family or parameter."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    chosen = family(name)
    if chosen.linear:
        first: tuple[str, Any] = ("scale", StandardScaler())
    else:
        # The trees are served in float32 (onnxruntime's tree operator takes no float64), so
        # they learn and predict on float32 values too: thresholds then fall between values a
        # float32 can tell apart, and serving takes every branch scikit-learn takes
        # (model/export.py).
        first = ("float32", FunctionTransformer(to_float32))
    return Pipeline([first, ("estimator", chosen.new_estimator(params, seed))])


def to_float32(X: Any) -> Any:
    import numpy as np

    return np.asarray(X, dtype=np.float32)


def fit_pipeline(pipeline: Pipeline, X: Any, y: Any, family_name: str) -> Pipeline:
    """Fit, turning scikit-learn's refusal of a parameter value into a FamilyError: the data
    were validated before, so what fitting refuses is the settings."""
    try:
        return pipeline.fit(X, y)
    except (ValueError, TypeError) as error:
        raise FamilyError(f"family {family_name}: {error}") from None
