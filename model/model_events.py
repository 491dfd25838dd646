"""The outcome of one dataset upload, as published to `model-events` (docs/training.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

PROMOTED = "promoted"
REJECTED = "rejected"
INVALID_DATA = "invalid_data"
# A rollout ended on its labelled traffic (mlctl rollout --auto, docs/rollout.md).
ROLLOUT_PROMOTED = "rollout_promoted"
ROLLOUT_ABORTED = "rollout_aborted"
KINDS = (PROMOTED, REJECTED, INVALID_DATA, ROLLOUT_PROMOTED, ROLLOUT_ABORTED)


@dataclass(frozen=True)
class ModelEvent:
    """What happened to an upload; `production_version` is the version serving after it."""

    event: str
    model: str
    version: int | None
    production_version: int | None
    dataset: str  # gs://bucket/object#generation
    metrics: dict[str, dict[str, float] | None] = field(
        default_factory=lambda: {"candidate": None, "production": None}
    )
    reasons: list[str] = field(default_factory=list)
    time: str = field(default_factory=lambda: now_rfc3339())
    # A promotion during a rollout ends it (docs/rollout.md): its version and percent.
    rollout_ended: dict[str, Any] | None = None
    # What made the upload, when the platform did (model/labelled_retraining.py): a
    # performance alert or the retraining schedule; None for anyone's upload.
    trigger: str | None = None

    def __post_init__(self) -> None:
        if self.event not in KINDS:
            raise ValueError(f"unknown event {self.event!r}, expected one of {KINDS}")

    def data(self) -> dict[str, Any]:
        return asdict(self)

    def attributes(self) -> dict[str, str]:
        return {
            "event": self.event,
            "model": self.model,
            "version": "" if self.version is None else str(self.version),
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ModelEvent:
        # Keys added since an outcome was recorded take their defaults.
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
