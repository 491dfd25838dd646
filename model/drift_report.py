"""A drift report from one window of prediction-log records (docs/monitoring.md).

Records are grouped by model version; each version's features are compared with that
version's training reference (model/drift.py), its predictions and latencies summarized
per transport. Pure: the job (drift_job.py) pulls, loads the references and writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import orjson

from model import drift
from model.artifact import ModelArtifact

TRANSPORTS = ("http", "stream")


class InvalidRecord(ValueError):
    """A prediction-log message this job cannot read; counted and acknowledged."""


@dataclass(frozen=True)
class Record:
    """One prediction-log record, as the serving functions publish it."""

    model: str
    version: int
    transport: str
    features: tuple[str, ...]
    instances: np.ndarray
    predictions: np.ndarray
    instance_count: int
    latency_ms: float
    time: str


def parse(data: bytes) -> Record:
    try:
        document = orjson.loads(data)
        model = document["model"]
        instances = np.asarray(document["instances"], dtype=np.float64)
        features = tuple(str(name) for name in document["features"])
        if instances.ndim != 2 or instances.shape[1] != len(features):
            raise ValueError(f"instances of shape {instances.shape} for features {features}")
        predictions = np.asarray(document["predictions"], dtype=np.float64)
        if predictions.shape != (instances.shape[0],):
            raise ValueError(f"{predictions.shape[0]} predictions for {instances.shape[0]} rows")
        return Record(
            model=str(model["name"]),
            version=int(model["version"]),
            transport=str(document["transport"]),
            features=features,
            instances=instances,
            predictions=predictions,
            instance_count=int(document.get("instance_count", instances.shape[0])),
            latency_ms=float(document["latency_ms"]),
            time=str(document["time"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise InvalidRecord(f"{type(error).__name__}: {error}") from None


def group_by_model(records: Sequence[Record]) -> dict[str, dict[int, list[Record]]]:
    grouped: dict[str, dict[int, list[Record]]] = {}
    for record in records:
        grouped.setdefault(record.model, {}).setdefault(record.version, []).append(record)
    return grouped


def consistent(records: Sequence[Record]) -> list[Record]:
    """The records with the features of the first: the ones a version's report can compare."""
    return [record for record in records if record.features == records[0].features]


def serving_values(records: Sequence[Record]) -> np.ndarray:
    """Every instance of a version's consistent records, one row each."""
    return np.concatenate([record.instances for record in consistent(records)])


def version_report(
    version: int,
    records: Sequence[Record],
    values: np.ndarray,
    artifact: ModelArtifact | None,
    min_samples: int,
) -> dict[str, Any]:
    """Features, predictions and transports of one version's records in the window; values
    are their `serving_values`, computed once for the report and its figure."""
    features = records[0].features
    compared_records = consistent(records)
    reference = artifact.reference if artifact is not None else {}
    has_reference = (
        artifact is not None
        and tuple(artifact.features) == features
        and all(drift.has_drift_reference(reference.get(name)) for name in features)
    )
    compared: list[dict[str, Any]] = []
    for column, name in enumerate(features):
        column_values = values[:, column]
        if has_reference:
            compared.append(
                drift.compare_feature(name, reference[name], column_values, min_samples).as_dict()
            )
        else:
            compared.append(
                {
                    "feature": name,
                    "n": int(column_values.size),
                    "serving": asdict(drift.moments(column_values)),
                }
            )
    n = int(values.shape[0])
    status, message = _status(version, n, has_reference, compared, min_samples)
    return {
        "version": version,
        "status": status,
        "message": message,
        "records": len(records),
        "instances": n,
        "instances_requested": sum(record.instance_count for record in records),
        "ignored_records": len(records) - len(compared_records),
        "has_reference": has_reference,
        "features": compared,
        "predictions": drift.distribution(
            np.concatenate([record.predictions for record in compared_records])
        ),
        "transports": transports(records),
    }


def transports(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    """Per transport: records, instances and latency p50/p95/p99."""
    found: dict[str, dict[str, Any]] = {}
    for transport in sorted({record.transport for record in records} | set(TRANSPORTS)):
        chosen = [record for record in records if record.transport == transport]
        latencies = np.array([record.latency_ms for record in chosen], dtype=np.float64)
        found[transport] = {
            "records": len(chosen),
            "instances": sum(record.instance_count for record in chosen),
            "latency_ms": drift.latency_percentiles(latencies),
        }
    return found


def alerts(versions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One alert per version and feature whose PSI crossed the threshold with enough values."""
    return [
        {
            "version": version["version"],
            "feature": feature["feature"],
            "psi": feature["psi"],
            "ks_statistic": feature["ks_statistic"],
            "ks_pvalue": feature["ks_pvalue"],
            "n": feature["n"],
        }
        for version in versions
        for feature in version["features"]
        if feature.get("alert")
    ]


def thresholds(min_samples: int) -> dict[str, float | int]:
    return {
        "psi_watch": drift.PSI_WATCH,
        "psi_alert": drift.PSI_ALERT,
        "min_samples": min_samples,
        "bin_smoothing": drift.SMOOTHING,
    }


def _status(
    version: int, n: int, has_reference: bool, features: list[dict[str, Any]], min_samples: int
) -> tuple[str, str]:
    if not has_reference:
        return (
            "no_reference",
            f"version {version} has no drift reference (registered before model.json kept "
            "reference bins): serving figures only; retrain to monitor it",
        )
    if n < min_samples:
        return (
            "too_few_samples",
            f"{n} values of version {version}, fewer than the {min_samples} needed "
            "(DRIFT_MIN_SAMPLES): figures for information, no alert",
        )
    drifting = [feature["feature"] for feature in features if feature["alert"]]
    if drifting:
        return "drift", f"PSI ≥ {drift.PSI_ALERT} on {', '.join(drifting)}"
    return "ok", f"every feature's PSI is below {drift.PSI_ALERT}"
