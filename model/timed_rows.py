"""Rows with a time: what a retraining backtest reads (docs/retraining.md).

A time is either a number of days (any origin: `day` 0, 1, 2, ...) or an ISO 8601 date or
timestamp (a timestamp without an offset is UTC). The first row decides which; a later row in
the other form, or in neither, is an error naming its line. Both are held as days, so day
numbers and the dates they stand for give the same backtest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from model.csv_text import Table, decode, parse
from model.dataset import TARGET, DatasetError

DAYS = "days"
ISO_8601 = "iso8601"
MAX_BYTES = 256 * 1024 * 1024
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class TimedRows:
    """Features, target and time of each row, oldest first."""

    features: tuple[str, ...]
    days: np.ndarray  # float days: as given, or since 1970-01-01 UTC for ISO 8601 times
    X: np.ndarray
    y: np.ndarray
    time_format: str  # DAYS or ISO_8601: which the time column held

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])

    def day_label(self, day: int) -> str:
        """A whole day as the input wrote it: its number, or its UTC date."""
        if self.time_format == DAYS:
            return str(day)
        return datetime.fromtimestamp(day * _SECONDS_PER_DAY, UTC).date().isoformat()


def timed_rows(
    features: Sequence[str],
    times: Sequence[str],
    X: np.ndarray,
    y: np.ndarray,
    where: Sequence[str],
) -> TimedRows:
    """Rows sorted by time (stable: rows of the same time keep their order); `where` names
    each row for an error ("line 7")."""
    days, time_format = parse_times(times, where)
    order = np.argsort(days, kind="stable")
    return TimedRows(tuple(features), days[order], X[order], y[order], time_format)


def parse_times(times: Sequence[str], where: Sequence[str]) -> tuple[np.ndarray, str]:
    """Days of each time, and which form they were in: decided by the first."""
    if not times:
        raise DatasetError("no rows")
    time_format = DAYS if _number(times[0]) is not None else ISO_8601
    days = np.empty(len(times), dtype=np.float64)
    for i, text in enumerate(times):
        day = _number(text) if time_format == DAYS else _iso_days(text)
        if day is None:
            expected = "a number of days" if time_format == DAYS else "an ISO 8601 date or time"
            raise DatasetError(
                f"{where[i]}: time {text!r} is not {expected}, as the first row's {times[0]!r} is"
            )
        days[i] = day
    return days, time_format


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _iso_days(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() / _SECONDS_PER_DAY


def read_timed_csv(
    data: bytes, time_column: str, features: Sequence[str] | None = None
) -> TimedRows:
    """A CSV of a time column, features and `target`; `features` None: every other column."""
    table = parse(decode(data, MAX_BYTES))
    header = table.header
    if time_column not in header:
        raise DatasetError(f"the header has no time column {time_column!r}: it has {header}")
    if TARGET not in header:
        raise DatasetError(f"the header has no {TARGET!r} column: it has {header}")
    if features is None:
        features = [name for name in header if name not in (time_column, TARGET)]
    missing = [name for name in features if name not in header]
    if missing or not features:
        raise DatasetError(f"the header lacks the features {missing or '(none)'}: it has {header}")
    columns = [header.index(name) for name in (*features, TARGET)]
    values = _numbers(table, columns)
    where = [f"line {line}" for line in table.lines]
    times = [row[header.index(time_column)] for row in table.rows]
    return timed_rows(features, times, values[:, :-1], values[:, -1], where)


def _numbers(table: Table, columns: list[int]) -> np.ndarray:
    values = np.empty((len(table.rows), len(columns)), dtype=np.float64)
    for i, (row, line) in enumerate(zip(table.rows, table.lines, strict=True)):
        if len(row) != len(table.header):
            raise DatasetError(f"line {line}: {len(row)} cells, the header has {len(table.header)}")
        for j, column in enumerate(columns):
            number = _number(row[column])
            if number is None:
                raise DatasetError(
                    f"line {line}: {table.header[column]} {row[column]!r} is not a finite number"
                )
            values[i, j] = number
    return values
