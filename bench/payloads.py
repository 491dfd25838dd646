"""Batch request bodies: the same seeded instances as JSON and as CSV."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

SIZES = (1_000, 10_000, 100_000)


@dataclass(frozen=True)
class Payload:
    rows: int
    json: bytes
    csv: bytes


def payload(rows: int, features: tuple[str, ...], seed: int = 0) -> Payload:
    """rows instances drawn around the diabetes data's standardized scale (σ ≈ 0.05)."""
    values = np.random.default_rng(seed).normal(0.0, 0.05, size=(rows, len(features)))
    as_json = orjson.dumps({"instances": values.tolist()})
    lines = [",".join(features), *(",".join(map(repr, row)) for row in values.tolist())]
    return Payload(rows, as_json, ("\n".join(lines) + "\n").encode())
