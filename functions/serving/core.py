"""The prediction core both transports share: decode, select a model, validate, predict, format.

`predict_batch` and `predict_stream` each build a `PredictionRequest` from what they
received and reply from the `Prediction` (or the ServingError) that `predict` gives back;
everything between is this one path (docs/http.md, docs/stream.md). It is pure: the
settings, the models and the stopwatch are handed to it, so it knows no process state, no
server and no logging, and the bench times this very code (bench/stages.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from functions.platform.config import Settings
from functions.platform.errors import InvalidArgument
from functions.serving.parsing import Instances, all_true, parse_version
from model.artifact import ModelArtifact
from model.registry import check_alias_name

Transport = Literal["http", "stream"]
Lap = Callable[[str], None]  # told each stage's name as it ends


class ModelSource(Protocol):
    """Where models come from: the process's ModelShelf, or a fixed model in a benchmark."""

    def get(
        self,
        model: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        split_key: str | None = None,
    ) -> ModelArtifact: ...


@dataclass(slots=True)  # made per request: a frozen one's __init__ costs 4x
class ModelSelector:
    """Which model serves a request (by name, else the default), and which of its versions:
    a pinned version, a named alias, or the served alias."""

    model_name: str | None = None
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(
        cls, version: str | None, alias: str | None, model_name: str | None = None
    ) -> ModelSelector:
        if version and alias:
            raise InvalidArgument("give a version or an alias, not both")
        if version is not None:
            return cls(model_name, version=parse_version(version))
        if alias is not None:
            try:
                return cls(model_name, alias=check_alias_name(alias))
            except ValueError as error:
                raise InvalidArgument(str(error)) from None
        return cls(model_name)

    def model(self, models: ModelSource, request_id: str | None = None) -> ModelArtifact:
        """The artifact that answers; `request_id` places an unpinned request in a rollout's
        split (docs/rollout.md)."""
        return models.get(self.model_name or None, self.version, self.alias, request_id)


@dataclass(slots=True)  # made per request: a frozen one's __init__ costs 4x
class PredictionRequest:
    """What a transport hands the core: who asks, how to read the instances, which model."""

    request_id: str
    transport: Transport
    decode: Callable[[Settings], Instances]  # a Body's, or the legacy URLs' path decoder
    version: str | None = None  # ?version= or the message's attribute, unparsed
    alias: str | None = None
    model_name: str | None = None  # ?model= or the message's attribute; None: the default


@dataclass(slots=True)  # made per request: a frozen one's __init__ costs 4x
class Prediction:
    """A request answered: everything a reply, a log line or a prediction record needs."""

    request_id: str
    transport: Transport
    model: ModelArtifact
    instances: np.ndarray  # the validated matrix, one row per instance, model.features wide
    predictions: np.ndarray

    def body(self) -> dict[str, Any]:
        """The success body of docs/http.md; the stream's result adds its request id."""
        return {"predictions": self.predictions, "model": model_reference(self.model)}


def no_lap(stage: str) -> None:
    """The stopwatch of a served request: nothing to time."""


def predict(
    request: PredictionRequest, config: Settings, models: ModelSource, lap: Lap = no_lap
) -> Prediction:
    """The one request path: body (413, 415, 400), selector (400), model (400, 404, 503),
    instances against its features (400), predictions. Raises ServingError or a failure."""
    instances = request.decode(config)  # the limits come before anything else
    selector = ModelSelector.parse(request.version, request.alias, request.model_name)
    lap("decode")
    model = selector.model(models, request.request_id)
    lap("model_lookup")
    matrix = instances.matrix(model.features)
    lap("validate")
    predictions = finite_predictions(model, matrix)
    lap("predict")
    return Prediction(
        request_id=request.request_id,
        transport=request.transport,
        model=model,
        instances=matrix,
        predictions=predictions,
    )


def finite_predictions(model: ModelArtifact, matrix: np.ndarray) -> np.ndarray:
    """The model's predictions, all finite: a value near the float limit may overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        predictions = model.predict(matrix)
    finite = np.isfinite(predictions)
    if not all_true(finite):
        row = int(np.argmin(finite))
        raise InvalidArgument(
            f"instances[{row}]: too large for the model: its prediction is not a finite number"
        )
    return predictions


def model_reference(model: ModelArtifact) -> dict[str, Any]:
    return {"name": model.name, "version": model.version}


def describe(model: ModelArtifact) -> dict[str, Any]:
    """What `GET /model` shows of the version served."""
    return {
        "name": model.name,
        "version": model.version,
        "features": list(model.features),
        "family": model.family,
        "params": model.params,
        "format": model.format,
        "metrics": model.metrics,
        "created_at": model.lineage.get("created_at"),
        "data_sha256": model.lineage.get("data_sha256"),
        "code_version": model.lineage.get("code_version"),
    }
