"""`POST /retrain` on monitor_drift: the retraining schedule's tick (docs/training.md).

For every model whose training setting `retraining` takes the schedule, the labelled rows of
its window go up as a dataset upload, and continuous training decides on it as on any. The
upload is named by the tick's hour: a tick Cloud Scheduler retries within the hour names the
same upload, which is then not made twice; its rows are those labelled up to the tick.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from model.labelled_retraining import retrain_from_labels, training_data
from model.layout import SERVING_ALIAS
from model.registry import Registry
from model.training_settings import SCHEDULE, read_settings


def scheduled(registry: Registry, now: datetime, alias: str = SERVING_ALIAS) -> dict[str, Any]:
    """One tick: what each model's setting made of it."""
    tick = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    retrainings = []
    for model in registry.models():
        policy = read_settings(registry, model).retraining
        served = registry.alias(model, alias)
        if policy is None or SCHEDULE not in policy.triggers or served is None:
            continue
        production = registry.load(model, served.version)
        base = training_data(registry, production) if policy.with_training_data else None
        retraining = retrain_from_labels(
            registry, model, SCHEDULE, now, production.features, base, named=tick
        )
        retrainings.append(retraining.as_dict())
    return {"tick": tick.isoformat(), "retrainings": retrainings}
