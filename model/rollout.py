"""A rollout: a share of a model's unpinned requests served by a candidate version
(docs/rollout.md).

`models/<model>/rollout.json` holds it, changed by compare-and-swap on its generation like
the aliases. Which requests the candidate takes is decided by the request id alone, hashed
with the candidate's version: the same id gets the same version for the whole rollout (a
redelivered stream request, a client that keeps its id), and another rollout draws anew.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from model.layout import SERVING_ALIAS
from model.registry import Alias, Registry, RegistryConflict, RegistryError

BUCKETS = 10_000  # the split's resolution: a hundredth of a percent


def rollout_path(model: str) -> str:
    return f"models/{model}/rollout.json"


class RolloutError(RegistryError):
    """A rollout that cannot start or end as asked: the message says why."""


@dataclass(frozen=True)
class Rollout:
    version: int  # the candidate
    percent: float  # of unpinned requests, 0 < percent < 100
    production_version: int | None  # when it started
    started_at: str
    generation: int = 0  # of the object read; 0: not written yet

    def takes(self, request_id: str) -> bool:
        """Whether the candidate answers this request."""
        digest = hashlib.blake2b(f"{self.version}/{request_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % BUCKETS < self.percent * (BUCKETS // 100)

    def to_document(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "percent": self.percent,
            "production_version": self.production_version,
            "started_at": self.started_at,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any], generation: int) -> Rollout:
        rollout = cls(
            version=int(document["version"]),
            percent=float(document["percent"]),
            production_version=document.get("production_version"),
            started_at=str(document.get("started_at", "")),
            generation=generation,
        )
        if not 0 < rollout.percent < 100:
            raise ValueError(f"percent {rollout.percent}")
        return rollout


def read_rollout(registry: Registry, model: str) -> Rollout | None:
    """The rollout under way, or None; RolloutError for a document that is not one (written
    by hand, say): whoever reads it then sends every request to production."""
    path = rollout_path(model)
    try:
        document, generation = registry.document(path)
        return None if document is None else Rollout.from_document(document, generation)
    except (KeyError, TypeError, ValueError) as error:  # JSON's errors are ValueErrors
        raise RolloutError(f"{path} is not a rollout ({type(error).__name__}: {error})") from None


def start_rollout(
    registry: Registry, model: str, version: int, percent: float, alias: str = SERVING_ALIAS
) -> Rollout:
    """Send `percent` of the model's unpinned requests to `version`, or change the share of
    the rollout under way; RolloutError when that cannot be."""
    if not 0 < percent < 100:
        raise RolloutError(
            f"--percent {percent:g}: give more than 0 and less than 100 "
            "(--promote sends all traffic, --abort none)"
        )
    if version not in registry.versions(model):
        raise RolloutError(f"model {model!r} has no version {version}")
    production = registry.alias(model, alias)
    if production is not None and production.version == version:
        raise RolloutError(f"version {version} is {alias} already: it takes all traffic")
    if production is not None:
        theirs = registry.load(model, version).features
        ours = registry.load(model, production.version).features
        if theirs != ours:
            raise RolloutError(
                f"version {version} takes features {list(theirs)}, {alias} {list(ours)}: "
                "a split would refuse the requests made for the other; promote it instead"
            )
    current = read_rollout(registry, model)
    if current is not None and current.version != version:
        raise RolloutError(
            f"version {current.version} is rolling out: --promote or --abort it first"
        )
    rollout = Rollout(
        version,
        percent,
        production.version if production else None,
        current.started_at if current else datetime.now(UTC).isoformat(timespec="seconds"),
    )
    path = rollout_path(model)
    expected = current.generation if current else 0
    generation = registry.replace_document(path, rollout.to_document(), expected)
    return Rollout.from_document(rollout.to_document(), generation)


def end_rollout(registry: Registry, model: str, expected: Rollout) -> None:
    """Remove the rollout if it is still the one read; RegistryConflict if it changed."""
    registry.delete_document(rollout_path(model), expected.generation)


def promote_rollout(registry: Registry, model: str, alias: str = SERVING_ALIAS) -> Alias:
    """Make the candidate production, then end the rollout. In between, the candidate is
    production and still takes its share: every request is answered either way."""
    rollout = _under_way(registry, model)
    production = registry.alias(model, alias)
    if production is not None and production.version == rollout.version:
        moved = production  # promoted already (by hand): only the split ends
    else:  # against the production read now: a promotion by retrain meanwhile is a conflict
        moved = registry.set_alias(
            model, alias, rollout.version, production, reason="rollout promoted"
        )
    end_rollout(registry, model, rollout)
    return moved


def abort_rollout(registry: Registry, model: str) -> Rollout:
    rollout = _under_way(registry, model)
    end_rollout(registry, model, rollout)
    return rollout


def end_after_promotion(registry: Registry, model: str, promoted: int) -> Rollout | None:
    """A version was promoted by other means (retrain): the rollout under way, if any, ends,
    since the new production serves all traffic. The rollout ended, or None."""
    for _ in range(3):  # a rollout changed under us is read again
        rollout = read_rollout(registry, model)
        if rollout is None:
            return None
        try:
            end_rollout(registry, model, rollout)
        except RegistryConflict:
            continue
        return rollout
    raise RegistryConflict(f"{rollout_path(model)} keeps changing: end it by hand ({promoted})")


def _under_way(registry: Registry, model: str) -> Rollout:
    rollout = read_rollout(registry, model)
    if rollout is None:
        raise RolloutError(f"model {model!r} has no rollout under way")
    return rollout
