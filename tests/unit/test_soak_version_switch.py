"""The soak's reading of a load against the alias history: each target it checks can fail."""

from __future__ import annotations

import pytest

from soak.alias_history import AliasEntry, broken_links
from soak.batch_traffic import Answer
from soak.version_switch import Change, changes, strays, switches


def answer(worker: int, received: float, version: int | None, status: int = 200) -> Answer:
    return Answer(worker, received - 0.01, received, status, version, None)


HISTORY = [
    AliasEntry(100, 0.0, 1, None, "seed"),
    AliasEntry(200, 10.0, 2, 1, "promoted"),
    AliasEntry(300, 20.0, 1, 2, "rollback from 2"),
]


def test_changes_come_from_consecutive_history_entries():
    assert changes(HISTORY) == [Change(10.0, 1, 2), Change(20.0, 2, 1)]


def test_a_clean_switch_per_worker():
    answers = [answer(0, 9.0, 1), answer(0, 11.5, 1), answer(0, 12.0, 2), answer(0, 19.0, 2)]
    answers += [answer(0, 21.0, 2), answer(0, 21.2, 1)]
    first, second = switches(answers, changes(HISTORY), workers=1)
    assert (first.last_old, first.first_new, first.back_to_old) == (1.5, 2.0, 0)
    assert second.last_old == pytest.approx(1.0)
    assert second.first_new == pytest.approx(1.2)
    assert strays(answers, changes(HISTORY)) == []


def test_going_back_to_the_old_version_and_never_switching_are_seen():
    answers = [answer(0, 12.0, 2), answer(0, 13.0, 1), answer(1, 15.0, 1)]
    flipped, never = switches(answers, changes(HISTORY)[:1], workers=2)
    assert flipped.back_to_old == 1
    assert never.first_new is None
    assert never.last_old == 5.0


def test_an_answer_from_a_version_the_alias_did_not_hold_then_is_a_stray():
    answers = [
        answer(0, 5.0, 2),
        answer(0, 12.0, 3),
        answer(0, 13.0, 2),
        answer(0, 14.0, None, 503),
    ]
    assert [a.received for a in strays(answers, changes(HISTORY))] == [5.0, 12.0]


def test_an_entry_not_replacing_the_version_before_breaks_the_chain():
    assert broken_links(HISTORY) == []
    lost = [*HISTORY[:2], AliasEntry(300, 20.0, 3, 1, "written over a stale read")]
    assert len(broken_links(lost)) == 1
