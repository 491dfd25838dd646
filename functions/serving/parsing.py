"""Request parsing: JSON, CSV and the legacy URLs into a validated float matrix.

Parsing is strict (JSON grammar, never `eval`) and vectorized: type and shape checks run
over whole batches in C (`map`, `set`, numpy); only when a check fails is the batch
walked in Python, to name the first offending cell.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter, methodcaller
from typing import Any, NoReturn, Protocol
from urllib.parse import unquote

import numpy as np
import orjson

from functions.platform.errors import InvalidArgument, PayloadTooLarge

_NUMBER_TYPES = frozenset({int, float})
_NUMERIC_JSON = b"0123456789.eE+-,[] \t\r\n"


@dataclass(slots=True)  # made per request: a frozen one's __init__ costs 4x
class JsonInstances:
    """Instances as decoded from JSON: lists, objects of features, or bare numbers."""

    instances: list[Any]
    # The body held no strings, booleans or nulls, so every value decoded is a number.
    numbers_only: bool = False

    def __len__(self) -> int:
        return len(self.instances)

    def matrix(self, features: Sequence[str]) -> np.ndarray:
        return _json_matrix(self.instances, tuple(features), self.numbers_only)


@dataclass(slots=True)  # made per request: a frozen one's __init__ costs 4x
class CsvInstances:
    """Instances as CSV lines, one a row, with the header if there was one."""

    header: tuple[str, ...] | None
    lines: list[str]

    def __len__(self) -> int:
        return len(self.lines)

    def matrix(self, features: Sequence[str]) -> np.ndarray:
        return _csv_matrix(self.header, self.lines, tuple(features))


class Instances(Protocol):
    """What a request's body decodes to, whatever its format (JSON, CSV, the Open Inference
    Protocol's tensors): the rows, checked against a model's features only once it is known."""

    def __len__(self) -> int: ...

    def matrix(self, features: Sequence[str]) -> np.ndarray: ...


# Decoding: the body's syntax and size, before any model is known. ---------------------


def decode_json(body: bytes, max_instances: int) -> JsonInstances:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidArgument(f"malformed JSON: {error}") from None
    if not isinstance(document, dict) or "instances" not in document:
        raise InvalidArgument('the body must be a JSON object with an "instances" list')
    if len(document) > 1:
        unknown = sorted(set(document) - {"instances"})
        raise InvalidArgument(f'unknown fields {unknown}: only "instances" is accepted')
    instances = _checked(document["instances"], "instances", max_instances)
    return JsonInstances(instances, numbers_only=_numbers_only(body))


def _numbers_only(body: bytes) -> bool:
    """True when the only string is the "instances" key and no true, false or null occurs:
    then the per-value type check can be skipped (a scan of the bytes, not of the values)."""
    key = body.find(b'"instances"')
    rest = body[key + len(b'"instances"') :] if key >= 0 else b'"'
    # One C pass: whatever is left after deleting number, list and space characters.
    return not rest.translate(None, _NUMERIC_JSON).strip(b":}") and b'"' not in body[:key]


def decode_csv(body: bytes, max_instances: int) -> CsvInstances:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidArgument(f"the CSV is not UTF-8: {error}") from None
    lines = [line for line in map(str.strip, text.splitlines()) if line]
    if not lines:
        raise InvalidArgument("instances: the CSV holds no rows")
    header = None
    first_cells = lines[0].split(",")
    # A header is a first line of names only; a line with any number in it is data.
    if not any(map(_parses_as_float, first_cells)):
        header = tuple(cell.strip() for cell in first_cells)
        lines = lines[1:]
    if not lines:
        raise InvalidArgument("instances: the CSV has a header but no rows")
    if len(lines) > max_instances:
        raise PayloadTooLarge(f"instances: {len(lines)} rows, the limit is {max_instances}")
    return CsvInstances(header, lines)


def decode_batch_path(segment: str, max_instances: int) -> JsonInstances:
    """`/batch/[0.5,0.2,0.6]`: a JSON array of instances in the path."""
    value = _json_value(unquote(segment), "the /batch/ path")
    return JsonInstances(_checked(value, "instances", max_instances))


def decode_stream_path(segment: str) -> JsonInstances:
    """`/stream/0.5`: one instance, a JSON number or array, in the path."""
    return JsonInstances([_json_value(unquote(segment), "the /stream/ path")])


def _json_value(text: str, where: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidArgument(
            f"{where} must hold JSON numbers, like /batch/[0.5,0.2] or /stream/0.5; got {text!r}"
        ) from None


def _checked(instances: Any, where: str, max_instances: int) -> list[Any]:
    if not isinstance(instances, list):
        raise InvalidArgument(f"{where} must be a list, got {_json_type(instances)}")
    if not instances:
        raise InvalidArgument(f"{where} is empty")
    if len(instances) > max_instances:
        raise PayloadTooLarge(f"{where}: {len(instances)} instances, the limit is {max_instances}")
    return instances


# Conversion: the instances against the features of the model that will serve them. -----


def _json_matrix(
    instances: list[Any], features: tuple[str, ...], numbers_only: bool = False
) -> np.ndarray:
    width = len(features)
    row_types = set(map(type, instances))
    if row_types == {list}:
        if set(map(len, instances)) != {width}:
            _raise_first_bad_row(instances, features)
        source, nested = instances, True
    elif row_types == {dict}:
        if set(map(frozenset, instances)) != {frozenset(features)}:
            _raise_first_bad_row(instances, features)
        source, nested = list(map(itemgetter(*features), instances)), width > 1
    elif row_types <= _NUMBER_TYPES and width == 1:
        source, nested = instances, False
    else:
        _raise_first_bad_row(instances, features)

    def cells() -> Iterator[Any]:
        return chain.from_iterable(source) if nested else iter(source)

    if not numbers_only and not set(map(type, cells())) <= _NUMBER_TYPES:
        _raise_first_bad_cell(instances, features)
    try:
        # fromiter fills one buffer: several times faster than np.array on nested lists.
        values = np.fromiter(cells(), dtype=np.float64, count=len(instances) * width)
    except (TypeError, ValueError, OverflowError):
        _raise_first_bad_cell(instances, features)
    return _finite(values.reshape(len(instances), width))


def _raise_first_bad_row(instances: list[Any], features: tuple[str, ...]) -> NoReturn:
    width = len(features)
    for index, row in enumerate(instances):
        where = f"instances[{index}]"
        if isinstance(row, list):
            if len(row) != width:
                raise InvalidArgument(
                    f"{where}: expected {width} values {list(features)}, got {len(row)}"
                )
        elif isinstance(row, dict):
            missing = [name for name in features if name not in row]
            if missing:
                raise InvalidArgument(
                    f"{where}: missing features {missing}, expected {list(features)}"
                )
            unknown = sorted(set(row) - set(features))
            if unknown:
                raise InvalidArgument(
                    f"{where}: unknown features {unknown}, expected {list(features)}"
                )
        elif type(row) in _NUMBER_TYPES and width == 1:
            continue
        else:
            raise InvalidArgument(
                f"{where}: expected a list of {width} numbers or an object with "
                f"{list(features)}, got {_json_type(row)}"
            )
    # Each row is well formed on its own, but they are of different kinds.
    raise InvalidArgument(
        "instances: use one kind of instance (lists, objects or numbers), not a mix"
    )


def _raise_first_bad_cell(instances: list[Any], features: tuple[str, ...]) -> NoReturn:
    for index, row in enumerate(instances):
        if isinstance(row, dict):
            named = [(f".{name}", row[name]) for name in features]
        elif isinstance(row, list):
            named = [(f"[{column}]", value) for column, value in enumerate(row)]
        else:
            named = [("", row)]
        for suffix, value in named:
            where = f"instances[{index}]{suffix}"
            if isinstance(value, bool):
                raise InvalidArgument(f"{where}: a boolean is not a number")
            if type(value) not in _NUMBER_TYPES:
                raise InvalidArgument(f"{where}: not a number, got {_json_type(value)}")
            if isinstance(value, int) and abs(value) > 1e308:
                raise InvalidArgument(f"{where}: not a finite number")
    raise InvalidArgument("instances: not all values are numbers")  # pragma: no cover


def _csv_matrix(
    header: tuple[str, ...] | None, lines: list[str], features: tuple[str, ...]
) -> np.ndarray:
    width = len(features)
    order = None
    if header is not None:
        if sorted(header) != sorted(features) or len(set(header)) != len(header):
            raise InvalidArgument(
                f"the CSV header {list(header)} must name the features {list(features)}"
            )
        order = [header.index(name) for name in features]
    if set(map(methodcaller("count", ","), lines)) != {width - 1}:
        for index, line in enumerate(lines):
            if line.count(",") != width - 1:
                raise InvalidArgument(
                    f"instances[{index}]: expected {width} values {list(features)}, "
                    f"got {line.count(',') + 1}"
                )
    joined = ",".join(lines)
    try:
        if "_" in joined:  # Python's float() accepts 1_000; CSV numbers never have it.
            raise ValueError
        matrix = np.array(joined.split(","), dtype=np.float64).reshape(len(lines), width)
    except ValueError:
        for index, line in enumerate(lines):
            for column, cell in enumerate(line.split(",")):
                if not _is_number(cell):
                    raise InvalidArgument(
                        f"instances[{index}][{column}]: not a number: {cell.strip()!r}"
                    ) from None
        raise  # pragma: no cover
    if order is not None and order != list(range(width)):
        matrix = matrix[:, order]
    return _finite(matrix)


def _finite(matrix: np.ndarray) -> np.ndarray:
    finite = np.isfinite(matrix)
    if not all_true(finite):
        row, column = np.argwhere(~finite)[0]
        raise InvalidArgument(f"instances[{row}][{column}]: not a finite number")
    return matrix


def all_true(flags: np.ndarray) -> bool:
    """`flags.all()` in one C call, without ndarray.all's Python wrapper: every request
    checks its instances and its predictions this way."""
    return bool(_ALL_TRUE(flags, axis=None))


_ALL_TRUE = np.logical_and.reduce


def _parses_as_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_number(cell: str) -> bool:
    """A CSV number: what float() accepts, less Python's digit separators (1_000)."""
    return "_" not in cell and _parses_as_float(cell)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_version(raw: str) -> int:
    """`?version=N`: a whole number from 1."""
    text = raw.strip()
    # 18 digits hold any version; a longer string is refused before int() meets it (Python
    # refuses to convert more than 4,300 digits, which would be a 500).
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise InvalidArgument(f"version must be a whole number from 1, got {raw!r}")
    return int(text)
