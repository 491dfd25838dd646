"""The joined rows of a model (`labelled/<model>/date=*/`, docs/feedback.md) as time-stamped
rows: the label's time, the features the prediction was made from, the label as target."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from google.cloud import storage

from model.dataset import DatasetError
from model.feedback import LABELLED
from model.labelled import labelled_rows as stored_rows
from model.timed_rows import TimedRows, timed_rows


def read_labelled(
    client: storage.Client,
    bucket: str,
    model: str,
    features: Sequence[str] | None = None,
    timeout: float = 30.0,
) -> tuple[TimedRows, int]:
    """The model's joined rows with `features` (None: those of the latest row), and how many
    were left out for having other features (a version trained on others) or for not being
    joined rows."""
    documents, unreadable = stored_rows(client.bucket(bucket), model, timeout=timeout)
    if not documents:
        raise DatasetError(f"no labelled rows under gs://{bucket}/{LABELLED}{model}/")
    where = [f"labelled row {d.get('request_id')!r} #{d.get('index')}" for d in documents]
    rows, left_out = labelled_rows(documents, where, features)
    return rows, left_out + unreadable


def labelled_rows(
    documents: Sequence[Mapping[str, Any]],
    where: Sequence[str],
    features: Sequence[str] | None = None,
) -> tuple[TimedRows, int]:
    if features is None:
        latest = max(documents, key=lambda document: str(document.get("label_time", "")))
        features = list(latest.get("feature_names") or ())
    kept = [
        (document, name)
        for document, name in zip(documents, where, strict=True)
        if list(document.get("feature_names") or ()) == list(features)
    ]
    if not kept:
        raise DatasetError(f"no labelled rows have the features {list(features)}")
    X = np.array([_numbers(document["features"], name) for document, name in kept])
    y = np.array([float(document["label"]) for document, _ in kept])
    times = [str(document.get("label_time", "")) for document, _ in kept]
    names = [name for _, name in kept]
    return timed_rows(features, times, X, y, names), len(documents) - len(kept)


def _numbers(values: Iterable[Any], where: str) -> list[float]:
    try:
        return [float(value) for value in values]
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: features {values!r} are not numbers") from None
