"""The rows of a scoring job and their predictions, without Beam (docs/scoring.md).

A file is CSV (a header naming at least the model's features; other columns ignored) or JSON
lines (an object with the features by name, or an array of them in the model's order), by
its name: `.jsonl`, `.ndjson` and `.json` are JSON lines, anything else CSV. A row that cannot
be predicted gets the message the HTTP function gives for that row sent alone, so a batch
job and `/predict` explain a bad row the same way.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from functions.platform.errors import InvalidArgument
from functions.serving.core import finite_predictions
from functions.serving.parsing import CsvInstances, Instances, JsonInstances
from model.artifact import ModelArtifact

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass(frozen=True)
class Row:
    """One line to score: its id and either its instance, in the form the HTTP function
    parses (a CSV line of the features in the model's order, or a JSON instance), or why
    it has none."""

    id: str
    csv_line: str | None = None
    json_instance: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Scored:
    """A row's prediction, or the error that sends it to the dead letters."""

    id: str
    prediction: float | None = None
    error: str | None = None


def is_json_lines(name: str) -> bool:
    return name.lower().endswith(JSON_SUFFIXES)


def read_rows(
    name: str, lines: Iterable[str], features: Sequence[str], id_column: str = ""
) -> Iterator[Row]:
    """The rows of the file `name` (its lines without their ends); blank lines are skipped,
    and a row's default id is `name:line`, 1-based, the header counted."""
    if is_json_lines(name):
        return _json_rows(name, lines, tuple(features), id_column)
    return _csv_rows(name, lines, tuple(features), id_column)


def _csv_rows(
    name: str, lines: Iterable[str], features: tuple[str, ...], id_column: str
) -> Iterator[Row]:
    numbered = enumerate(lines, start=1)
    header: list[str] | None = None
    for _, line in numbered:
        if line.strip():
            header = [cell.strip() for cell in next(csv.reader([line]))]
            break
    if header is None:
        return
    missing = [feature for feature in features if feature not in header]
    columns = [header.index(feature) for feature in features if feature in header]
    id_index = header.index(id_column) if id_column and id_column in header else None
    for number, line in numbered:
        if not line.strip():
            continue
        cells = next(csv.reader([line]))
        given = cells[id_index] if id_index is not None and id_index < len(cells) else None
        row_id = _id(name, number, given)
        if missing:
            yield Row(row_id, error=f"the CSV header {header} lacks the features {missing}")
        elif len(cells) != len(header):
            yield Row(
                row_id,
                error=f"instances[0]: expected {len(header)} values {header}, got {len(cells)}",
            )
        else:
            yield Row(row_id, csv_line=",".join(cells[column] for column in columns))


def _json_rows(
    name: str, lines: Iterable[str], features: tuple[str, ...], id_column: str
) -> Iterator[Row]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield Row(_id(name, number, None), error=f"malformed JSON: {error}")
            continue
        if isinstance(value, dict):
            row_id = _id(name, number, value.get(id_column) if id_column else None)
            # Other fields are the row's own business (an id, a label): only features count.
            value = {key: item for key, item in value.items() if key in features}
        else:
            row_id = _id(name, number, None)
        yield Row(row_id, json_instance=value)


def _id(name: str, number: int, value: Any) -> str:
    if value is None or value == "":
        return f"{name}:{number}"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def score(model: ModelArtifact, rows: Sequence[Row]) -> list[Scored]:
    """Each row's prediction or error: the rows of each form converted and predicted at
    once; only a batch with a bad row is taken row by row, to name each one's fault."""
    scored = [Scored(row.id, error=row.error) for row in rows]
    csv_rows = [i for i, row in enumerate(rows) if row.csv_line is not None]
    json_rows = [i for i, row in enumerate(rows) if row.error is None and row.csv_line is None]
    for indexes in (csv_rows, json_rows):
        if indexes:
            batch = [rows[i] for i in indexes]
            for i, result in zip(indexes, _score_batch(model, batch), strict=True):
                scored[i] = result
    return scored


def _score_batch(model: ModelArtifact, batch: Sequence[Row]) -> list[Scored]:
    """Rows of one form."""
    try:
        predictions = _predict(model, batch)
    except InvalidArgument:
        return [_score_one(model, row) for row in batch]
    return [Scored(row.id, prediction) for row, prediction in zip(batch, predictions, strict=True)]


def _score_one(model: ModelArtifact, row: Row) -> Scored:
    try:
        (prediction,) = _predict(model, [row])
    except InvalidArgument as error:
        return Scored(row.id, error=str(error))
    return Scored(row.id, prediction)


def _predict(model: ModelArtifact, batch: Sequence[Row]) -> list[float]:
    """The HTTP function's conversion and checks, then the model."""
    instances: Instances
    if batch[0].csv_line is not None:
        instances = CsvInstances(None, [row.csv_line or "" for row in batch])
    else:
        instances = JsonInstances([row.json_instance for row in batch])
    predictions: list[float] = finite_predictions(model, instances.matrix(model.features)).tolist()
    return predictions
