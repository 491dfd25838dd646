"""The stream soak's requests: good ones in every body form docs/http.md allows, and poison
that can never be served, each kind with the outcome docs/stream.md promises for it."""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, field

import orjson

# Every POISON_EVERY-th request is poison (5%), its kind taken in turn from POISON.
POISON_EVERY = 20
DEAD_LETTER = "dead-letter"


@dataclass(frozen=True)
class Poison:
    """A kind of request that can never be served, and how the design answers it: an error
    result with this code (an invalid request, acknowledged at once), or DEAD_LETTER (a
    failure Pub/Sub retries until the dead-letter policy takes it)."""

    kind: str
    outcome: int | str
    body: bytes = b'{"instances": [[0.01]]}'
    attributes: dict[str, str] = field(default_factory=dict)


POISON = (
    Poison("bad_json", 400, b'{"instances": [[0.01]'),
    Poison("wrong_shape", 400, b'{"instances": [[0.01, 0.02]]}'),  # for a one-feature model
    Poison("unsupported_content_type", 415, attributes={"content_type": "application/xml"}),
    Poison("broken_gzip", 400, b"\x1f\x8b\x08\x00 no gzip after", {"content_encoding": "gzip"}),
    Poison("unknown_version", 404, attributes={"version": "999"}),
    # Pinned to a version whose model.json was altered after registration: its integrity
    # check refuses it on every load (503), so it is retried until dead-lettered.
    Poison("tampered_version", DEAD_LETTER),
)


@dataclass(frozen=True)
class StreamRequest:
    request_id: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    rows: tuple[tuple[float, ...], ...] = ()  # a good request's instances
    poison: Poison | None = None

    @property
    def expected(self) -> str:
        """ "ok", "error <code>" or DEAD_LETTER."""
        if self.poison is None:
            return "ok"
        outcome = self.poison.outcome
        return outcome if isinstance(outcome, str) else f"error {outcome}"


def generate(
    count: int, run: str, feature: str, tampered_version: int, seed: int = 11
) -> list[StreamRequest]:
    """count requests with ids unique to run, for a one-feature model of feature."""
    rng = random.Random(seed)
    requests = []
    for index in range(count):
        request_id = f"sf-{run}-{index:05d}"
        if index % POISON_EVERY == POISON_EVERY - 1:
            kind = POISON[(index // POISON_EVERY) % len(POISON)]
            requests.append(_poison(request_id, kind, tampered_version))
        else:
            requests.append(_good(request_id, index, feature, rng))
    return requests


def _good(request_id: str, index: int, feature: str, rng: random.Random) -> StreamRequest:
    """One to three instances, as JSON lists, JSON objects, CSV or gzip-compressed JSON."""
    rows = tuple((round(rng.gauss(0.0, 0.05), 6),) for _ in range(1 + index % 3))
    form = index % 4
    if form == 1:
        body = orjson.dumps({"instances": [{feature: row[0]} for row in rows]})
        return StreamRequest(request_id, body, {"request_id": request_id}, rows)
    if form == 2:
        csv = "".join(f"{row[0]!r}\n" for row in rows).encode()
        attributes = {"request_id": request_id, "content_type": "text/csv"}
        return StreamRequest(request_id, csv, attributes, rows)
    body = orjson.dumps({"instances": [list(row) for row in rows]})
    if form == 3:
        attributes = {"request_id": request_id, "content_encoding": "gzip"}
        return StreamRequest(request_id, gzip.compress(body, mtime=0), attributes, rows)
    return StreamRequest(request_id, body, {"request_id": request_id}, rows)


def _poison(request_id: str, poison: Poison, tampered_version: int) -> StreamRequest:
    attributes = {"request_id": request_id, **poison.attributes}
    if poison.outcome == DEAD_LETTER:
        attributes["version"] = str(tampered_version)
    return StreamRequest(request_id, poison.body, attributes, poison=poison)
