"""A model's training settings: `models/<model>/settings.json` in the registry (docs/models.md).

They say how the model is trained when a command does not: the family and its parameters,
and the features `mlctl train` takes from the bundled data. They change by compare-and-swap
on the object's generation, like the aliases, so two writers never lose each other's change
silently. Continuous training uses them; without them, the production version's family and
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from model import layout
from model.artifact import ModelArtifact
from model.estimator import TrainingSpec
from model.families import DEFAULT_FAMILY, FAMILIES, FamilyError
from model.gate import DEFAULT_CONFIDENCE, GateSettings
from model.registry import Registry
from model.search import DEFAULT_BUDGET, SearchSettings

FIELDS = (
    "family",
    "params",
    "features",
    "confidence",
    "min_r2",
    "search",
    "feedback",
    "retraining",
)
# What may start a retraining on labelled rows (model/labelled_retraining.py).
PERFORMANCE_ALERT = "performance_alert"
SCHEDULE = "schedule"
TRIGGERS = (PERFORMANCE_ALERT, SCHEDULE)
DEFAULT_WINDOW_DAYS = 30


def settings_path(model: str) -> str:
    return layout.settings_path(model)


@dataclass(frozen=True)
class RetrainingPolicy:
    """Retraining on labelled rows: which triggers start one, how many days of labelled rows
    it takes, and whether the production version's training data goes in too."""

    triggers: tuple[str, ...]
    window_days: int = DEFAULT_WINDOW_DAYS
    with_training_data: bool = False

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> RetrainingPolicy:
        return cls(
            tuple(document.get("triggers") or ()),
            int(document.get("window_days", DEFAULT_WINDOW_DAYS)),
            document.get("with_training_data") is True,
        ).checked()

    def checked(self) -> RetrainingPolicy:
        unknown = sorted(set(self.triggers) - set(TRIGGERS))
        if unknown or not self.triggers:
            raise FamilyError(f"retraining: triggers among {list(TRIGGERS)}, got {unknown}")
        if self.window_days < 1:
            raise FamilyError(f"retraining: window of {self.window_days} days; at least 1")
        return self

    def to_document(self) -> dict[str, Any]:
        return {
            "triggers": list(self.triggers),
            "window_days": self.window_days,
            "with_training_data": self.with_training_data,
        }


@dataclass(frozen=True)
class TrainingSettings:
    family: str | None = None  # None: not set
    params: dict[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] | None = None
    # The gate's (model/gate.py): how sure a candidate must be, and an optional minimum R².
    confidence: float = DEFAULT_CONFIDENCE
    min_r2: float | None = None
    # Whether retrain searches, and over what: {"families": [...], "budget": N}; None: no.
    search: dict[str, Any] | None = None
    # Whether its predictions take labels (docs/feedback.md): the prediction log then keeps
    # every instance of every request, with its index.
    feedback: bool = False
    # Retraining on labelled rows (docs/training.md); None: only uploads retrain.
    retraining: RetrainingPolicy | None = None
    generation: int = 0  # of the object read; 0: there is none

    @classmethod
    def from_document(cls, document: dict[str, Any], generation: int) -> TrainingSettings:
        unknown = sorted(set(document) - set(FIELDS))
        if unknown:
            raise FamilyError(f"settings.json: unknown fields {unknown}; known: {list(FIELDS)}")
        features = document.get("features")
        return cls(
            family=document.get("family"),
            params=dict(document.get("params") or {}),
            features=tuple(features) if features else None,
            confidence=float(document.get("confidence", DEFAULT_CONFIDENCE)),
            min_r2=None if document.get("min_r2") is None else float(document["min_r2"]),
            search=document.get("search"),
            feedback=document.get("feedback") is True,
            retraining=(
                RetrainingPolicy.from_document(document["retraining"])
                if document.get("retraining")
                else None
            ),
            generation=generation,
        ).checked()

    def checked(self) -> TrainingSettings:
        """Itself, if its family and parameter names are known and its gate settings are
        possible; FamilyError if not."""
        if not 0.5 <= self.confidence < 1:
            raise FamilyError(f"settings: confidence {self.confidence} must be in [0.5, 1)")
        self.search_settings(1.0)  # its families and budget are possible
        if self.family is not None:
            TrainingSpec(self.family, self.params).checked()
        elif self.params:
            raise FamilyError("parameters need a family: give --family")
        return self

    def changed(
        self,
        family: str | None = None,
        params: dict[str, Any] | None = None,
        features: tuple[str, ...] | None = None,
        confidence: float | None = None,
        min_r2: float | None = None,
        search: dict[str, Any] | None = None,
        feedback: bool | None = None,
        retraining: RetrainingPolicy | Literal[False] | None = None,
    ) -> TrainingSettings:
        """With what is given replaced; a new family starts from no parameters; a search
        of {} turns searching off, a retraining of False retraining on labels."""
        updated = self
        if retraining is not None:
            updated = replace(updated, retraining=retraining or None)
        if feedback is not None:
            updated = replace(updated, feedback=feedback)
        if search is not None:
            updated = replace(updated, search=search or None)
        if confidence is not None:
            updated = replace(updated, confidence=confidence)
        if min_r2 is not None:
            updated = replace(updated, min_r2=min_r2)
        if family is not None and family != self.family:
            updated = replace(updated, family=family, params={})
        if params is not None:
            updated = replace(updated, params=params)
        if features is not None:
            updated = replace(updated, features=features)
        return updated.checked()

    def spec(self, seed: int, production: ModelArtifact | None = None) -> TrainingSpec:
        """What to train: these settings, else the production version's family and
        parameters, else the default family."""
        if self.family is not None:
            return TrainingSpec(self.family, self.params, seed)
        if production is not None:
            return TrainingSpec(production.family, production.params, seed)
        return TrainingSpec(DEFAULT_FAMILY, {}, seed)

    def search_settings(self, time_budget: float) -> SearchSettings | None:
        if self.search is None:
            return None
        families = tuple(self.search.get("families") or FAMILIES)
        budget = int(self.search.get("budget", DEFAULT_BUDGET))
        return SearchSettings(families, budget, time_budget).checked()

    def gate(self, seed: int) -> GateSettings:
        return GateSettings(confidence=self.confidence, min_r2=self.min_r2, seed=seed)

    def to_document(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "params": self.params,
            "features": list(self.features) if self.features else None,
            "confidence": self.confidence,
            "min_r2": self.min_r2,
            "search": self.search,
            "feedback": self.feedback,
            "retraining": self.retraining.to_document() if self.retraining else None,
        }


def read_settings(registry: Registry, model: str) -> TrainingSettings:
    document, generation = registry.document(settings_path(model))
    if document is None:
        return TrainingSettings()
    return TrainingSettings.from_document(document, generation)


def write_settings(registry: Registry, model: str, settings: TrainingSettings) -> TrainingSettings:
    """Store settings if the object is still at the generation they were read from;
    RegistryConflict if another writer changed it meanwhile."""
    generation = registry.replace_document(
        settings_path(model), settings.checked().to_document(), settings.generation
    )
    return replace(settings, generation=generation)
