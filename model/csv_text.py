"""Uploaded bytes to CSV rows, or a reason a person can act on: never a crash.

A dataset arrives as bytes of unknown origin (a spreadsheet export, a binary file, nothing
at all). This module only decides whether they are UTF-8 CSV text and splits them into
cells; validation.py decides whether the cells are usable numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

EXPECTED = "a UTF-8 CSV file: a header naming the features and 'target', then one row per example"


class UnreadableData(ValueError):
    """The bytes are not CSV text; the message says why and what was expected."""


@dataclass(frozen=True)
class Table:
    """The header's cells and each non-blank row's cells with its line number (header: 1)."""

    header: list[str]
    rows: list[list[str]]
    lines: list[int]


def decode(data: bytes, max_bytes: int) -> str:
    """UTF-8 text of the bytes (a leading BOM dropped), or UnreadableData."""
    if len(data) > max_bytes:
        raise UnreadableData(
            f"the file is {len(data):,} bytes, over the limit of {max_bytes:,} bytes: "
            "split it into smaller uploads"
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableData(f"the file is UTF-16 text: save it as {EXPECTED}")
    zero = data.find(b"\x00")
    if zero >= 0:
        raise UnreadableData(
            f"the file is binary (a zero byte at offset {zero}): expected {EXPECTED}"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UnreadableData(
            f"line {line}: byte 0x{data[error.start]:02x} at offset {error.start} is not UTF-8 "
            f"text: save the file as {EXPECTED}"
        ) from None
    if not text.strip():
        raise UnreadableData(f"the file is empty: expected {EXPECTED}")
    return text


def parse(text: str) -> Table:
    """Split CSV text into cells (stripped of surrounding spaces); blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            cells = [cell.strip() for cell in row]
            if header is None:
                header = cells
                continue
            rows.append(cells)
            lines.append(reader.line_num)
    except csv.Error as error:
        raise UnreadableData(
            f"line {reader.line_num}: not valid CSV ({error}): expected {EXPECTED}"
        ) from None
    if header is None:  # pragma: no cover - decode() refuses blank text
        raise UnreadableData(f"the file is empty: expected {EXPECTED}")
    return Table(header, rows, lines)
