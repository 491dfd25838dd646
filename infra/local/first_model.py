"""The first models: each trained and promoted when the registry serves none, reused otherwise."""

from __future__ import annotations

import time
from dataclasses import dataclass

from google.cloud import storage

from infra import names
from infra.local.errors import LocalCloudError
from model.dataset import DIABETES_FEATURES
from model.registry import Registry

# How each model `make run` serves is first trained: its diabetes features and its family.
# Any other model is trained as the seed's was.
RECIPES = {
    names.MODEL_NAME: (("bmi",), "linear"),
    names.FULL_MODEL_NAME: (DIABETES_FEATURES, "hist_gradient_boosting"),
}


@dataclass(frozen=True)
class ServedModel:
    """The version served under the alias, and whether this run had to train it."""

    model: str
    version: int
    trained: bool
    versions: list[int]
    r2: float | None = None
    seconds: float = 0.0


def ensure_served_model(
    client: storage.Client, bucket: str, model: str, alias: str = names.SERVING_ALIAS
) -> ServedModel:
    """Reuse the version under alias; if there is none, train the first model and promote it."""
    began = time.monotonic()
    registry = Registry(client, bucket)
    served = registry.alias(model, alias)
    if served is not None:
        return ServedModel(model, served.version, trained=False, versions=registry.versions(model))
    # Imported here: scikit-learn and matplotlib cost seconds a reused registry never needs.
    from model.dataset import load_diabetes
    from model.estimator import TrainingSpec
    from model.promotion import train_register_promote
    from model.training_settings import read_settings, write_settings

    # The models make run serves take labels: every instance they answer is logged.
    write_settings(registry, model, read_settings(registry, model).changed(feedback=True))

    features, family = RECIPES.get(model, RECIPES[names.MODEL_NAME])
    promotion = train_register_promote(
        registry, load_diabetes(features), model, TrainingSpec(family), alias=alias
    )
    if not promotion.promoted:
        raise LocalCloudError(
            f"the first {model} model (version {promotion.model.version}) was not promoted "
            f"to {alias}: {'; '.join(promotion.decision.reasons)}"
        )
    return ServedModel(
        model,
        promotion.model.version,
        trained=True,
        versions=registry.versions(model),
        r2=promotion.decision.candidate_r2,
        seconds=time.monotonic() - began,
    )
