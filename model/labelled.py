"""The joined rows under `labelled/<model>/date=<label date>/` (docs/feedback.md), read back:
all of them, or a time range's, for which only the date folders it touches are listed."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
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
) -> list[dict[str, Any]]:
    """The model's rows labelled from `since` to `until` (aware datetimes), or all of them."""
    if since is None or until is None:
        prefixes = [f"{LABELLED}{model}/"]
    else:
        prefixes = [f"{LABELLED}{model}/date={day}/" for day in _days(since, until)]
    names = [
        blob.name
        for prefix in prefixes
        for blob in bucket.list_blobs(
            prefix=prefix, fields="items(name),nextPageToken", timeout=timeout
        )
    ]
    with ThreadPoolExecutor(READERS) as pool:
        rows = list(
            pool.map(
                lambda name: orjson.loads(bucket.blob(name).download_as_bytes(timeout=timeout)),
                names,
            )
        )
    if since is None or until is None:
        return rows
    low, high = since.timestamp(), until.timestamp()
    return [row for row in rows if low <= _seconds(row["label_time"]) <= high]


def _days(since: datetime, until: datetime) -> Iterator[str]:
    day = since.date()
    while day <= until.date():
        yield day.isoformat()
        day += timedelta(days=1)


def _seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
