"""Retraining on what was learned: the labelled rows of a window turned into a dataset
upload, so continuous training and its gate decide as for any upload (docs/training.md).

A model's training setting `retraining` says which triggers start one (a performance alert,
the retraining schedule), how many days of labelled rows it takes, and whether the production
version's training data goes in too. The upload's name says why it was made, so the model
event of its outcome says so too, redelivered or not:

    datasets/<model>/incoming/labelled-<trigger>-<end of the window, UTC>.csv

The name is fixed by the trigger and the window, and the upload is create-only: a trigger
handled twice uploads once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from google.api_core import exceptions as api_exceptions
from google.cloud.storage.retry import DEFAULT_RETRY

from model.artifact import ModelArtifact
from model.dataset import Dataset, DatasetError, load_diabetes, to_csv
from model.gcs import create_if_absent
from model.labelled import labelled_rows
from model.layout import incoming_prefix
from model.registry import Registry
from model.training_settings import TRIGGERS, read_settings
from model.validation import Schema, validate_csv

_NAME = re.compile(r"labelled-(?P<trigger>[a-z_]+)-\d{8}T\d{6}Z\.csv$")


def upload_name(model: str, trigger: str, until: datetime) -> str:
    return f"{incoming_prefix(model)}labelled-{trigger}-{until.astimezone(UTC):%Y%m%dT%H%M%SZ}.csv"


def trigger_of(name: str) -> str | None:
    """What made an upload, from its name: a trigger, or None for anyone's upload."""
    found = _NAME.search(name)
    return found["trigger"] if found and found["trigger"] in TRIGGERS else None


@dataclass(frozen=True)
class Retraining:
    """What a model's `retraining` setting asked for, and what came of it."""

    model: str
    trigger: str
    upload: str | None  # gs:// of the dataset uploaded, None when none was
    rows: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "trigger": self.trigger,
            "upload": self.upload,
            "rows": self.rows,
            "reason": self.reason,
        }


def retrain_from_labels(
    registry: Registry,
    model: str,
    trigger: str,
    now: datetime,
    production_features: Sequence[str],
    training_data: Dataset | None = None,
    detail: dict[str, str] | None = None,
    named: datetime | None = None,
) -> Retraining:
    """Upload the model's labelled rows of its window up to `now` (with `training_data` when
    its setting asks) if its setting takes `trigger`; the upload is named by `named` (default
    `now`): one name, one upload."""
    policy = read_settings(registry, model).retraining
    if policy is None or trigger not in policy.triggers:
        return Retraining(model, trigger, None, 0, f"{model}'s retraining does not take {trigger}")
    since = now - timedelta(days=policy.window_days)
    rows, _ = labelled_rows(registry.bucket, model, since, now)
    labelled = as_dataset(rows, tuple(production_features))
    if labelled.rows == 0:
        reason = f"no labelled rows with features {list(production_features)} since {since:%F}"
        return Retraining(model, trigger, None, 0, reason)
    dataset = labelled
    if policy.with_training_data and training_data is not None:
        dataset = Dataset(
            labelled.features,
            np.vstack([training_data.X, labelled.X]),
            np.concatenate([training_data.y, labelled.y]),
        )
    name = upload_name(model, trigger, named or now)
    metadata = {
        "trigger": trigger,
        "window": f"{since.isoformat()}/{now.isoformat()}",
        "labelled_rows": str(labelled.rows),
        "training_rows": str(dataset.rows - labelled.rows),
        **(detail or {}),
    }
    created = create_if_absent(
        registry.bucket, name, _csv(dataset), "text/csv", 30.0, DEFAULT_RETRY, metadata
    )
    uri = f"gs://{registry.bucket_name}/{name}"
    reason = "uploaded" if created else "uploaded already by an earlier run"
    return Retraining(model, trigger, uri, dataset.rows, reason)


def as_dataset(rows: Sequence[dict[str, Any]], features: tuple[str, ...]) -> Dataset:
    """The rows made with exactly these features, as a training dataset: features and label."""
    usable = [row for row in rows if tuple(row["feature_names"]) == features]
    X = np.array([row["features"] for row in usable], dtype=np.float64).reshape(-1, len(features))
    y = np.array([row["label"] for row in usable], dtype=np.float64)
    return Dataset(features, X, y)


def training_data(registry: Registry, production: ModelArtifact) -> Dataset | None:
    """The rows the production version was trained on: its dataset upload's exact generation,
    else the bundled diabetes data if its fingerprint matches; None when neither is there."""
    source = production.lineage.get("dataset")
    if isinstance(source, dict) and source.get("uri"):
        name = str(source["uri"]).removeprefix(f"gs://{registry.bucket_name}/")
        blob = registry.bucket.blob(name, generation=int(source["generation"]))
        try:
            data = blob.download_as_bytes(timeout=30.0)
        except api_exceptions.NotFound:  # deleted since, by a lifecycle rule or a person
            return None
        dataset, _ = validate_csv(data, Schema(production.features))
        return dataset
    try:
        bundled = load_diabetes(production.features)
    except DatasetError:
        return None
    return bundled if bundled.fingerprint() == production.lineage.get("data_sha256") else None


def _csv(dataset: Dataset) -> bytes:
    return to_csv(dataset).encode()
