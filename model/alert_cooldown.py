"""One alert per key and cooldown, however many runs race for it (docs/monitoring.md).

The last alert of a key is an object in the bucket, replaced by compare-and-swap on its
generation (the registry's documents, model/registry.py): a run reads it and, when its alert
is older than the cooldown, writes its own with `ifGenerationMatch` = the generation it read
(0: absent). Of two runs that read the same generation, exactly one write is accepted; the
other run learns it lost and does not alert.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from model.registry import Registry, RegistryConflict


@dataclass(frozen=True)
class Claim:
    """The right to send one alert: the object written, at its new generation."""

    path: str
    generation: int
    document: dict[str, Any]


def claim(
    registry: Registry, path: str, now: datetime, cooldown: timedelta, about: dict[str, Any]
) -> Claim | None:
    """Claim the alert of path at `now`, or None: one was sent within the cooldown, or
    another run claimed it first. `about` is kept in the object (what was alerted)."""
    found, generation = registry.document(path)
    if found is not None and now < datetime.fromisoformat(found["alerted_at"]) + cooldown:
        return None
    document = {**about, "alerted_at": now.isoformat(), "claim_id": uuid.uuid4().hex}
    try:
        return Claim(path, registry.replace_document(path, document, generation), document)
    except RegistryConflict:
        # Refused: another run's write came first, or our own retried write had landed; the
        # object's claim_id tells which.
        found, generation = registry.document(path)
        if found is None or found.get("claim_id") != document["claim_id"]:
            return None
        return Claim(path, generation, document)


def release(registry: Registry, held: Claim) -> None:
    """Give a claim back (its alert could not be sent): the next run may alert. Nothing if
    another run has replaced it since."""
    with contextlib.suppress(RegistryConflict):
        registry.delete_document(held.path, held.generation)
