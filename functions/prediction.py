"""The prediction core both transports share: select a model, validate, predict, format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from functions.errors import InvalidArgument
from functions.model_cache import ModelCache
from functions.parsing import Instances, parse_version
from model.artifact import ModelArtifact
from model.registry import check_alias_name


@dataclass(frozen=True)
class ModelSelector:
    """Which model serves a request: a pinned version, a named alias, or the default."""

    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, version: str | None, alias: str | None) -> ModelSelector:
        if version and alias:
            raise InvalidArgument("give a version or an alias, not both")
        if version is not None:
            return cls(version=parse_version(version))
        if alias is not None:
            try:
                return cls(alias=check_alias_name(alias))
            except ValueError as error:
                raise InvalidArgument(str(error)) from None
        return cls()


@dataclass(frozen=True)
class Prediction:
    predictions: np.ndarray
    model: ModelArtifact
    instances: np.ndarray

    def body(self) -> dict[str, Any]:
        return {"predictions": self.predictions, "model": model_reference(self.model)}


def model_reference(model: ModelArtifact) -> dict[str, Any]:
    return {"name": model.name, "version": model.version}


def predict(instances: Instances, selector: ModelSelector, cache: ModelCache) -> Prediction:
    model = cache.get(version=selector.version, alias=selector.alias)
    matrix = instances.matrix(model.features)
    return Prediction(predictions=model.predict(matrix), model=model, instances=matrix)


def describe(model: ModelArtifact) -> dict[str, Any]:
    """What `GET /model` shows of the version served."""
    return {
        "name": model.name,
        "version": model.version,
        "features": list(model.features),
        "metrics": model.metrics,
        "created_at": model.lineage.get("created_at"),
        "data_sha256": model.lineage.get("data_sha256"),
        "code_version": model.lineage.get("code_version"),
    }
