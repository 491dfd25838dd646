"""Trainers racing on one registry: registrations of the same model at once, and promotions
moving one alias at once, each racer with its own client as separate trainers would be.

Every racer waits at a barrier first, so they read the registry at the same moment and
collide for real; what they got back is then checked against what the bucket kept.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from model.artifact import ModelArtifact
from model.registry import Alias, AliasConflict, Registry, version_path
from soak.alias_history import AliasEntry, alias_history, broken_links, generations
from soak.system import System

T = TypeVar("T")
_BARRIER_TIMEOUT = 60.0
_RACE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Registrations:
    versions: dict[int, int]  # registrant -> the version register() gave it
    stored_by: dict[int, int | None]  # version -> the registrant its model.json names
    generations: dict[int, int]  # version -> how many generations its model.json has had
    seconds: float


@dataclass(frozen=True)
class Win:
    expected_generation: int
    alias: Alias


@dataclass(frozen=True)
class Promotions:
    attempts: int
    wins: list[Win]
    conflicts: int
    errors: list[str]  # anything but a win or an AliasConflict
    history: list[AliasEntry]  # the entries written during the race
    chain_breaks: list[str]  # entries whose compare-and-swap did not follow the one before
    seconds: float


def register_at_once(system: System, base: ModelArtifact, registrants: int) -> Registrations:
    """`registrants` trainers register a version of base's model at the same moment, each
    marked in its lineage; which version each got, and what the bucket holds for each."""
    barrier = threading.Barrier(registrants, timeout=_BARRIER_TIMEOUT)

    def register(registrant: int, registry: Registry) -> int:
        marked = dataclasses.replace(base, lineage={**base.lineage, "soak_registrant": registrant})
        barrier.wait()
        return registry.register(marked).version

    began = time.monotonic()
    versions = dict(enumerate(_race(system, registrants, register)))
    seconds = time.monotonic() - began
    client = system.cloud.storage_client()
    try:
        registry = Registry(client, system.cloud.config.bucket)
        stored_by = {
            version: registry.load(base.name, version).lineage.get("soak_registrant")
            for version in versions.values()
        }
        written = {
            version: len(
                generations(client, system.cloud.config.bucket, version_path(base.name, version))
            )
            for version in versions.values()
        }
    finally:
        client.close()
    return Registrations(versions, stored_by, written, seconds)


def promote_at_once(
    system: System, model: str, alias: str, targets: list[int], promoters: int, rounds: int
) -> Promotions:
    """`promoters` trainers move alias at once, `rounds` times: each reads the alias and
    compare-and-swaps it to a version of targets other than the one it read."""
    barrier = threading.Barrier(promoters, timeout=_BARRIER_TIMEOUT)
    lock = threading.Lock()
    wins: list[Win] = []
    conflicts: list[int] = []
    errors: list[str] = []

    def promote(promoter: int, registry: Registry) -> None:
        for round_ in range(rounds):
            barrier.wait()
            current = registry.alias(model, alias)
            if current is None:
                raise RuntimeError(f"alias {alias!r} vanished during the race")
            choices = [v for v in targets if v != current.version]
            target = choices[(promoter + round_) % len(choices)]
            reason = f"soak promoter {promoter}, round {round_}"
            try:
                written = registry.set_alias(model, alias, target, current, reason)
            except AliasConflict:
                with lock:
                    conflicts.append(promoter)
                continue
            except Exception as error:  # counted: a racer must win or get a conflict
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
                continue
            with lock:
                wins.append(Win(current.generation, written))

    client = system.cloud.storage_client()
    try:
        start = Registry(client, system.cloud.config.bucket).alias(model, alias)
        if start is None:
            raise RuntimeError(f"alias {alias!r} must exist before the race")
        began = time.monotonic()
        _race(system, promoters, promote)
        seconds = time.monotonic() - began
        history = alias_history(client, system.cloud.config.bucket, model, alias)
    finally:
        client.close()
    from_start = [entry for entry in history if entry.generation >= start.generation]
    return Promotions(
        attempts=promoters * rounds,
        wins=wins,
        conflicts=len(conflicts),
        errors=errors,
        history=from_start[1:],
        chain_breaks=broken_links(from_start) + _swaps_not_chained(from_start, wins),
        seconds=seconds,
    )


def _swaps_not_chained(history: list[AliasEntry], wins: list[Win]) -> list[str]:
    """Wins whose write is missing from the history, or whose compare-and-swap expected a
    generation other than the entry just before it: a success silently overwritten."""
    position = {entry.generation: index for index, entry in enumerate(history)}
    breaks = []
    for win in wins:
        index = position.get(win.alias.generation)
        if index is None:
            breaks.append(f"generation {win.alias.generation} won but is not in the history")
        elif index == 0 or history[index - 1].generation != win.expected_generation:
            breaks.append(
                f"generation {win.alias.generation} expected {win.expected_generation}, "
                f"but follows {history[index - 1].generation if index else None}"
            )
    return breaks


def _race(system: System, racers: int, work: Callable[[int, Registry], T]) -> list[T]:
    """work(racer, registry) in racers threads at once, each with its own storage client."""
    clients = [system.cloud.storage_client() for _ in range(racers)]
    pool = ThreadPoolExecutor(racers, thread_name_prefix="racer")
    try:
        futures = [
            pool.submit(work, n, Registry(client, system.cloud.config.bucket))
            for n, client in enumerate(clients)
        ]
        deadline = time.monotonic() + _RACE_TIMEOUT  # for the whole race, not each racer
        return [future.result(timeout=deadline - time.monotonic()) for future in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck racer must not hold us
        for client in clients:
            client.close()
