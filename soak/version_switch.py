"""How the answers of a load followed the alias: per change and per worker, when the old
version was last served and the new one first, and whether any answer came from elsewhere."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from soak.alias_history import AliasEntry
from soak.batch_traffic import Answer


@dataclass(frozen=True)
class Change:
    at: float  # when the alias object was written (time.time())
    old: int
    new: int


@dataclass(frozen=True)
class Switch:
    """One worker's view of one change; times in seconds after the alias was written."""

    change: Change
    worker: int
    last_old: float | None  # the last answer still from the old version, None if none came
    first_new: float | None  # None: the worker never saw the new version
    back_to_old: int  # answers from the old version after one from the new


def changes(history: Sequence[AliasEntry]) -> list[Change]:
    """The moves of the alias, from its history (the first entry is where it started)."""
    return [
        Change(entry.created, before.version, entry.version)
        for before, entry in itertools.pairwise(history)
    ]


def switches(answers: Sequence[Answer], moves: Sequence[Change], workers: int) -> list[Switch]:
    """Each worker's answers between a change and the next, against that change."""
    found = []
    for index, change in enumerate(moves):
        until = moves[index + 1].at if index + 1 < len(moves) else math.inf
        for worker in range(workers):
            window = [
                a
                for a in answers
                if a.worker == worker and a.served and change.at <= a.received < until
            ]
            found.append(_switch(change, worker, window))
    return found


def strays(answers: Sequence[Answer], moves: Sequence[Change]) -> list[Answer]:
    """Served answers naming a version the alias did not point at around their time: before
    the first change only its old version; between changes, the old or the new one."""
    if not moves:
        return []
    stray = []
    for answer in answers:
        if not answer.served:
            continue
        current = [c for c in moves if c.at <= answer.received]
        allowed = {current[-1].old, current[-1].new} if current else {moves[0].old}
        if answer.version not in allowed:
            stray.append(answer)
    return stray


def _switch(change: Change, worker: int, window: list[Answer]) -> Switch:
    new_times = [a.received for a in window if a.version == change.new]
    first_new = min(new_times) if new_times else None
    old = [a.received for a in window if a.version == change.old]
    back = sum(1 for t in old if first_new is not None and t > first_new)
    return Switch(
        change,
        worker,
        max(old) - change.at if old else None,
        first_new - change.at if first_new is not None else None,
        back,
    )
