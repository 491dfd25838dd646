"""The joined rows under `labelled/<model>/date=<label date>/` (docs/feedback.md), read back
for a time range: only the date folders the range touches are listed."""

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
    bucket: storage.Bucket, model: str, since: datetime, until: datetime, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The model's rows labelled from `since` to `until` (aware datetimes)."""
    names = [
        blob.name
        for day in _days(since, until)
        for blob in bucket.list_blobs(
            prefix=f"{LABELLED}{model}/date={day}/", fields="items(name),nextPageToken"
        )
    ]
    with ThreadPoolExecutor(READERS) as pool:
        rows = pool.map(
            lambda name: orjson.loads(bucket.blob(name).download_as_bytes(timeout=timeout)), names
        )
        low, high = since.timestamp(), until.timestamp()
        return [row for row in rows if low <= _seconds(row["label_time"]) <= high]


def _days(since: datetime, until: datetime) -> Iterator[str]:
    day = since.date()
    while day <= until.date():
        yield day.isoformat()
        day += timedelta(days=1)


def _seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
