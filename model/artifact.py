"""The model artifact: plain JSON with its own sha256, checked on every load. Never pickle."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

FORMAT = "linear-regression/v1"


class ArtifactError(ValueError):
    """The bytes are not a usable model artifact."""


class IntegrityError(ArtifactError):
    """The artifact's content does not match its recorded sha256."""


@dataclass(frozen=True)
class ModelArtifact:
    """Everything needed to serve, audit and monitor one model version."""

    name: str
    version: int
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    # Standardization applied before the weights: (x - mean) / scale.
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    reference: dict[str, dict[str, Any]]
    metrics: dict[str, float]
    lineage: dict[str, Any]
    # Derived once: the same model folded into raw feature space, for fast prediction.
    _raw_weights: np.ndarray = field(init=False, repr=False, compare=False)
    _raw_bias: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (len(self.features) == len(self.weights) == len(self.mean) == len(self.scale)):
            raise ArtifactError("features, weights, mean and scale must have the same length")
        raw_weights = np.asarray(self.weights, dtype=np.float64) / np.asarray(self.scale)
        object.__setattr__(self, "_raw_weights", raw_weights)
        object.__setattr__(
            self, "_raw_bias", float(self.bias - np.dot(np.asarray(self.mean), raw_weights))
        )

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predictions for the rows of X, columns in the order of `features`."""
        predictions: np.ndarray = X @ self._raw_weights + self._raw_bias
        return predictions

    def with_version(self, version: int) -> ModelArtifact:
        return replace(self, version=version)

    def to_document(self) -> dict[str, Any]:
        document = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "features": list(self.features),
            "weights": list(self.weights),
            "bias": self.bias,
            "preprocessing": {
                "type": "standardize",
                "mean": list(self.mean),
                "scale": list(self.scale),
            },
            "reference": self.reference,
            "metrics": self.metrics,
            "lineage": self.lineage,
        }
        document["sha256"] = content_sha256(document)
        return document

    def to_json(self) -> bytes:
        return json.dumps(self.to_document(), indent=2, sort_keys=True, allow_nan=False).encode()


def content_sha256(document: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of everything but the checksum itself."""
    body = {key: value for key, value in document.items() if key != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def from_json(data: bytes | str) -> ModelArtifact:
    """Parse and verify an artifact; raise ArtifactError naming what is wrong."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ArtifactError(f"model.json is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ArtifactError("model.json must hold a JSON object")
    if document.get("format") != FORMAT:
        raise ArtifactError(f"unknown artifact format {document.get('format')!r}, need {FORMAT!r}")
    recorded = document.get("sha256")
    actual = content_sha256(document)
    if recorded != actual:
        raise IntegrityError(
            f"model.json of {document.get('name')!r} version {document.get('version')!r}: "
            f"sha256 {actual} does not match the recorded {recorded}"
        )
    try:
        preprocessing = document["preprocessing"]
        return ModelArtifact(
            name=str(document["name"]),
            version=int(document["version"]),
            features=tuple(str(name) for name in document["features"]),
            weights=tuple(float(weight) for weight in document["weights"]),
            bias=float(document["bias"]),
            mean=tuple(float(value) for value in preprocessing["mean"]),
            scale=tuple(float(value) for value in preprocessing["scale"]),
            reference=dict(document["reference"]),
            metrics=dict(document["metrics"]),
            lineage=dict(document["lineage"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"model.json is missing or has a malformed field: {error}") from None
