"""The first model: trained and promoted when the registry serves none, reused otherwise."""

from __future__ import annotations

import time
from dataclasses import dataclass

from google.cloud import storage

from infra import names
from infra.local.errors import LocalCloudError
from model.registry import Registry


@dataclass(frozen=True)
class SeedOutcome:
    """The version served under the alias, and whether this run had to train it."""

    model: str
    version: int
    trained: bool
    versions: list[int]
    r2: float | None = None
    seconds: float = 0.0


def ensure_served_model(
    client: storage.Client, bucket: str, model: str, alias: str = names.SERVING_ALIAS
) -> SeedOutcome:
    """Reuse the version under alias; if there is none, train the seed model and promote it."""
    began = time.monotonic()
    registry = Registry(client, bucket)
    served = registry.alias(model, alias)
    if served is not None:
        return SeedOutcome(model, served.version, trained=False, versions=registry.versions(model))
    # Imported here: scikit-learn and matplotlib cost seconds a reused registry never needs.
    from model.dataset import load_diabetes
    from model.pipeline import train_register_promote

    outcome = train_register_promote(registry, load_diabetes(), model, alias=alias)
    if not outcome.promoted:
        raise LocalCloudError(
            f"the first {model} model (version {outcome.model.version}) was not promoted "
            f"to {alias}: {'; '.join(outcome.decision.reasons)}"
        )
    return SeedOutcome(
        model,
        outcome.model.version,
        trained=True,
        versions=registry.versions(model),
        r2=outcome.decision.candidate_r2,
        seconds=time.monotonic() - began,
    )
