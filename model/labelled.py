"""The joined rows under `labelled/<model>/date=<label date>/` (docs/feedback.md), read back:
all of them, or a time range's, for which only the date folders it touches are listed. An
object that is not a joined row (written by hand, truncated) is counted, not read: one such
object must not stop a report, a judgement or a retraining."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from google.cloud import storage

from model.feedback import LABELLED

# Rows are small objects: reading them is waiting. Within the client's 10 connections.
READERS = 8


def labelled_rows(
    bucket: storage.Bucket,
    model: str,
    since: datetime | None = None,
    until: datetime | None = None,
    timeout: float = 30.0,
) -> tuple[list[dict[str, Any]], int]:
    """The model's rows labelled from `since` to `until` (aware datetimes), or all of them,
    and how many objects were not joined rows."""
    if since is None or until is None:
        prefixes = [f"{LABELLED}{model}/"]
    else:
        prefixes = [f"{LABELLED}{model}/date={day}/" for day in partitions(since, until)]
    names = [
        blob.name
        for prefix in prefixes
        for blob in bucket.list_blobs(
            prefix=prefix, fields="items(name),nextPageToken", timeout=timeout
        )
    ]
    with ThreadPoolExecutor(READERS) as pool:
        read = list(
            pool.map(lambda name: _row(bucket.blob(name).download_as_bytes(timeout=timeout)), names)
        )
    rows = [row for row in read if row is not None]
    if since is not None and until is not None:
        low, high = since.timestamp(), until.timestamp()
        rows = [row for row in rows if low <= row["label_seconds"] <= high]
    return rows, len(read) - len([row for row in read if row is not None])


def _row(data: bytes) -> dict[str, Any] | None:
    """The joined row in `data`, with `label_seconds`; None if it is not one."""
    try:
        row = orjson.loads(data)
        if not isinstance(row, dict):
            return None
        row["label_seconds"] = _seconds(str(row["label_time"]))
        features, names = row["features"], row["feature_names"]
        if not isinstance(features, list) or not isinstance(names, list):
            return None
        if len(features) != len(names) or not all(_number(value) for value in features):
            return None
        if not _number(row["label"]) or not isinstance(row["version"], int):
            return None
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
        return None
    return row


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def partitions(since: datetime, until: datetime) -> list[str]:
    """The label dates (UTC) a time range touches: the `date=` folders to list."""
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    return [(first + timedelta(days=day)).isoformat() for day in range((last - first).days + 1)]


def _seconds(rfc3339: str) -> float:
    moment = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{rfc3339!r} has no time zone")
    return moment.timestamp()
