"""The model artifact: a plain JSON manifest with its own sha256, and for the tree families an
ONNX graph beside it whose sha256 the manifest holds (docs/registry.md). Loading runs no code
from the artifact: never pickle.

Formats:
- `linear-json`: the weights and intercept in raw feature space (the training pipeline's
  standardisation folded in), served by a numpy dot product;
- `onnx`: `model.onnx`, checked (model/onnx_graph.py) and served by onnxruntime;
- `linear-regression/v1`: the format before model families, standardised weights with their
  mean and scale; still loaded, never written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

LINEAR_FORMAT = "linear-json"
ONNX_FORMAT = "onnx"
LEGACY_FORMAT = "linear-regression/v1"
FORMATS = (LINEAR_FORMAT, ONNX_FORMAT, LEGACY_FORMAT)
ONNX_FILE = "model.onnx"

ReadFile = Callable[[str], bytes]  # a file of the version beside model.json, by name


class ArtifactError(ValueError):
    """The bytes are not a usable model artifact."""


class IntegrityError(ArtifactError):
    """The artifact's content does not match its recorded sha256."""


class Predictor(Protocol):
    @property
    def format(self) -> str: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def manifest(self) -> dict[str, Any]:
        """What model.json holds of it."""
        ...

    def files(self) -> dict[str, bytes]:
        """The files stored beside model.json, by name."""
        ...


@dataclass(frozen=True)
class LinearWeights:
    """y = X · weights + bias, in raw feature space."""

    weights: tuple[float, ...]
    bias: float
    format: str = field(default=LINEAR_FORMAT, init=False)
    _weights: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_weights", np.asarray(self.weights, dtype=np.float64))

    def predict(self, X: np.ndarray) -> np.ndarray:
        # Not X @ weights: BLAS sums a row in an order that depends on the batch around it, so
        # a row alone and in a batch could differ in the last bit. This sums each row alike.
        # np.add.reduce is ndarray.sum without its Python wrapper: the same sums, in C.
        predictions: np.ndarray = np.add.reduce(X * self._weights, axis=1) + self.bias
        return predictions

    def manifest(self) -> dict[str, Any]:
        return {"weights": list(self.weights), "bias": self.bias}

    def files(self) -> dict[str, bytes]:
        return {}


@dataclass(frozen=True)
class OnnxGraph:
    """An ONNX graph of one float32 input `[n, features]` and one output, run by onnxruntime.
    Building it checks the graph (model/onnx_graph.py): an instance is always servable."""

    data: bytes = field(repr=False)
    input_name: str
    width: int
    format: str = field(default=ONNX_FORMAT, init=False)
    _run: Callable[[np.ndarray], np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from model.onnx_graph import GraphRefused, runner  # onnxruntime: only if served

        try:
            object.__setattr__(self, "_run", runner(self.data, self.input_name, self.width))
        except GraphRefused as error:
            raise ArtifactError(str(error)) from None

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._run(X)

    def manifest(self) -> dict[str, Any]:
        return {
            "onnx": {"file": ONNX_FILE, "input": self.input_name, "dtype": "float32"},
            "files": {ONNX_FILE: file_entry(self.data)},
        }

    def files(self) -> dict[str, bytes]:
        return {ONNX_FILE: self.data}


@dataclass(frozen=True)
class ModelArtifact:
    """Everything needed to serve, audit and monitor one model version."""

    name: str
    version: int
    features: tuple[str, ...]
    family: str
    params: dict[str, Any]
    predictor: Predictor
    reference: dict[str, dict[str, Any]]
    metrics: dict[str, float]
    lineage: dict[str, Any]
    libraries: dict[str, str] = field(default_factory=dict)  # name -> version at training

    @property
    def format(self) -> str:
        return self.predictor.format

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for the rows of X, columns in the order of `features`."""
        return self.predictor.predict(X)

    def with_version(self, version: int) -> ModelArtifact:
        return replace(self, version=version)

    def files(self) -> dict[str, bytes]:
        return self.predictor.files()

    def to_document(self) -> dict[str, Any]:
        document = {
            "format": self.format,
            "name": self.name,
            "version": self.version,
            "features": list(self.features),
            "family": self.family,
            "params": self.params,
            **self.predictor.manifest(),
            "libraries": self.libraries,
            "reference": self.reference,
            "metrics": self.metrics,
            "lineage": self.lineage,
        }
        document["sha256"] = content_sha256(document)
        return document

    def to_json(self) -> bytes:
        return json.dumps(self.to_document(), indent=2, sort_keys=True, allow_nan=False).encode()


def file_entry(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def content_sha256(document: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of everything but the checksum itself."""
    body = {key: value for key, value in document.items() if key != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def from_json(data: bytes | str, read_file: ReadFile | None = None) -> ModelArtifact:
    """Parse and verify an artifact, reading the files it names with `read_file`; raise
    ArtifactError naming what is wrong."""
    document = _verified_document(data)
    where = f"model {document.get('name')!r} version {document.get('version')!r}"
    try:
        features = tuple(str(name) for name in document["features"])
        predictor = _predictor(document, features, read_file, where)
        return ModelArtifact(
            name=str(document["name"]),
            version=int(document["version"]),
            features=features,
            family=str(document.get("family", "linear")),
            params=dict(document.get("params", {})),
            predictor=predictor,
            reference=dict(document["reference"]),
            metrics=dict(document["metrics"]),
            lineage=dict(document["lineage"]),
            libraries=dict(document.get("libraries", {})),
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ArtifactError):
            raise
        raise ArtifactError(
            f"model.json of {where} is missing or has a malformed field: {error}"
        ) from None


def _verified_document(data: bytes | str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ArtifactError(f"model.json is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ArtifactError("model.json must hold a JSON object")
    if document.get("format") not in FORMATS:
        raise ArtifactError(
            f"unknown artifact format {document.get('format')!r}, need one of {list(FORMATS)}"
        )
    recorded = document.get("sha256")
    actual = content_sha256(document)
    if recorded != actual:
        raise IntegrityError(
            f"model.json of {document.get('name')!r} version {document.get('version')!r}: "
            f"sha256 {actual} does not match the recorded {recorded}"
        )
    return document


def _predictor(
    document: dict[str, Any], features: tuple[str, ...], read_file: ReadFile | None, where: str
) -> Predictor:
    kind = document["format"]
    if kind == LINEAR_FORMAT:
        weights = tuple(float(weight) for weight in document["weights"])
        _check_width(weights, features, where)
        return LinearWeights(weights, float(document["bias"]))
    if kind == LEGACY_FORMAT:
        return _legacy_weights(document, features, where)
    onnx = document["onnx"]
    if onnx.get("file") != ONNX_FILE or onnx.get("dtype") != "float32":
        raise ArtifactError(f"{where}: unsupported ONNX entry {onnx}")
    if read_file is None:
        raise ArtifactError(f"{where}: its {ONNX_FILE} was not read")
    data = read_file(ONNX_FILE)
    expected = document["files"][ONNX_FILE]
    if file_entry(data) != expected:
        raise IntegrityError(
            f"{ONNX_FILE} of {where}: sha256 {file_entry(data)['sha256']} and {len(data)} bytes "
            f"do not match the manifest's {expected}"
        )
    return OnnxGraph(data, str(onnx["input"]), len(features))


def _legacy_weights(
    document: dict[str, Any], features: tuple[str, ...], where: str
) -> LinearWeights:
    """linear-regression/v1: weights on (x - mean) / scale, folded into raw space."""
    preprocessing = document["preprocessing"]
    weights = np.asarray([float(weight) for weight in document["weights"]])
    mean = np.asarray([float(value) for value in preprocessing["mean"]])
    scale = np.asarray([float(value) for value in preprocessing["scale"]])
    if not len(features) == len(weights) == len(mean) == len(scale):
        raise ArtifactError(f"{where}: features, weights, mean and scale differ in length")
    raw = weights / scale
    return LinearWeights(tuple(raw.tolist()), float(document["bias"]) - float(mean @ raw))


def _check_width(weights: tuple[float, ...], features: tuple[str, ...], where: str) -> None:
    if len(weights) != len(features):
        raise ArtifactError(f"{where}: {len(weights)} weights for {len(features)} features")
