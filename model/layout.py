"""Names of the registry's layout in its bucket (docs/registry.md): where datasets land and
which alias is served. The registry's code and the tools read them from here."""

from __future__ import annotations

SERVING_ALIAS = "production"
DATASETS_PREFIX = "datasets/"
INCOMING = "incoming/"


def incoming_prefix(model: str) -> str:
    """Where an upload must land to train `model`."""
    return f"{DATASETS_PREFIX}{model}/{INCOMING}"


def settings_path(model: str) -> str:
    """A model's training settings (docs/models.md); serving reads their `feedback`."""
    return f"models/{model}/settings.json"
