"""The soak's README table: rendered from results.json, replacing only its own block."""

from __future__ import annotations

import copy

import pytest

from soak import report
from soak.__main__ import SCENARIOS

SECURITY = {
    "checkov": {"passed": 29, "failed": 0, "skipped": 12},
    "echo": {"probes_sent": 430, "echoes_found": 0},
}


# What a run of the scenario wrote (soak/results.json), trimmed to what the table names.
REGISTRY_RACES = {
    "uploads": {
        "uploads": 8,
        "events": {"promoted": 8},
        "versions": [2, 3, 4, 5, 6, 7, 8, 9],
        "alias_chain_breaks": 0,
    },
    "registrations": {"registrants": 8, "versions_created": 8, "overwritten": 0},
    "promotions": {"attempts": 30, "wins": 5, "conflicts": 25, "chain_breaks": 0},
    "tampering": {
        "tampered_version": 18,
        "answers_after_promotion": 6545,
        "answers_from_served_version": 6545,
        "refusal_logged": True,
    },
    "storage_down_at_cold_start": {
        "down_seconds": 25.0,
        "answers_while_down": 6,
        "answers_503_with_retry_after": 6,
        "recovery_seconds": 0.02,
        "restarted": False,
    },
    "serving_process": {"requests": 50691, "failed": 0, "max_seconds": 0.27},
}
PROMOTION = {
    "requests": 32369,
    "failed": 0,
    "per_version": {"1": 21378, "2": 10991},
    "requests_per_second": 1398.2,
    "refresh_seconds": 2.0,
    "event": "promoted",
    "promoted_version": 2,
    "upload_to_alias_seconds": 1.16,
    "rollback_to_version": 1,
    "alias_history": [1, 2, 1],
    "switches": [{"from": 1, "to": 2, "max_last_old_answer_seconds": 1.803}],
    "answers_from_other_versions": 0,
}
STREAM_FAULTS = {
    "published": 10000,
    "poison_by_kind": {"bad_json": 84},
    "answered_ok": 9500,
    "answered_error_by_code": {"400": 251},
    "duplicate_results": 1,
    "dead_lettered": 83,
    "lost": 0,
    "unexpected_outcomes": 0,
    "differing_duplicates": 0,
    "worker_kills": [{"at_s": 35.5, "during_outage": True}],
    "storage_outage": {"seconds": 10.05},
    "latency_ms": {
        "outside_faults": {"count": 8334, "p50": 694.7},
        "overlapping_faults": {"count": 0},
    },
}


def results(
    passed: bool, misses: list[str], name: str = "security", figures: dict | None = None
) -> dict:
    scenario = {
        "passed": passed,
        "misses": misses,
        "figures": SECURITY if figures is None else figures,
    }
    return {
        "commit": "abc1234",
        "seconds": 12.3,
        "passed": passed,
        "scenarios": {name: scenario},
    }


def row(name: str, figures: dict) -> str:
    return report.table(results(True, [], name, figures)).splitlines()[-1]


def test_a_met_scenario_shows_its_figures():
    text = report.table(results(True, []))
    assert "`abc1234`: 12 s, every target met" in text
    assert "| security | checkov 29 passed, 0 failed" in text
    assert text.endswith("| met |")


def test_a_missed_target_is_named():
    text = report.table(results(False, ["an echo of the path"]))
    assert "TARGETS MISSED" in text
    assert text.endswith("| missed: an echo of the path |")


def test_only_the_marked_block_of_the_readme_is_replaced(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{report.BEGIN}\nold table\n{report.END}\nafter\n")
    report.replace_in_readme("new table", readme)
    assert readme.read_text() == f"before\n{report.BEGIN}\nnew table\n{report.END}\nafter\n"


def test_a_readme_without_the_block_is_refused(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no block\n")
    with pytest.raises(SystemExit, match="no <!-- soak figures"):
        report.replace_in_readme("table", readme)
    assert readme.read_text() == "no block\n"


def test_every_scenario_has_its_describer():
    assert set(SCENARIOS) == set(report._DESCRIBERS)


def test_the_phrases_follow_the_figures():
    assert "refused and logged: 6,545 of 6,545" in row("registry_races", REGISTRY_RACES)
    assert "served again 0.02 s after storage came back, without a restart" in row(
        "registry_races", REGISTRY_RACES
    )
    figures = copy.deepcopy(REGISTRY_RACES)
    figures["tampering"] |= {"answers_from_served_version": 6000, "refusal_logged": False}
    figures["storage_down_at_cold_start"] |= {"recovery_seconds": None, "restarted": True}
    text = row("registry_races", figures)
    assert "tampered version 18 NOT refused and NOT logged: 6,000 of 6,545" in text
    assert "not served again after storage came back, after a restart" in text


def test_a_figure_the_run_never_reached_is_not_applicable():
    promotion = copy.deepcopy(PROMOTION)
    promotion["switches"][0]["max_last_old_answer_seconds"] = None
    promotion["requests_per_second"] = None
    promotion |= {"event": "kept", "promoted_version": None, "upload_to_alias_seconds": None}
    text = row("promotion", promotion)
    assert "32,369 requests at n/a/s" in text
    assert "retrain answered the upload with 'kept', no promotion" in text
    assert "1 → 2: last old answer n/a s after the alias write" in text
    assert "p50 695 ms outside the faults, n/a ms across them" in row(
        "stream_faults", STREAM_FAULTS
    )


def test_requests_that_ended_unexpectedly_are_not_called_the_unservable():
    assert "so the dead-lettered are the unservable" in row("stream_faults", STREAM_FAULTS)
    text = row("stream_faults", STREAM_FAULTS | {"unexpected_outcomes": 3})
    assert "unservable" not in text
    assert "3 requests ended otherwise than docs/stream.md says" in text


def test_a_scenario_that_raised_is_listed_with_its_miss():
    raised = ["the scenario raised TimeoutError: no model event"]
    text = report.table(results(False, raised, "promotion", {"resources": {"predict_batch": {}}}))
    assert text.endswith(
        "| promotion | incomplete figures: none | missed: the scenario raised TimeoutError: "
        "no model event |"
    )
    partial = {"requests": 10, "switches": [], "load": {"seconds": None}}
    assert "incomplete figures: requests 10, load.seconds n/a" in row("promotion", partial)


def test_a_scenario_without_a_describer_is_listed_generically():
    text = row("new_scenario", {"sent": 5, "by_kind": {"a": 2, "b": 3}, "ids": [1, 2]})
    assert text == "| new_scenario | sent 5, by_kind.a 2, by_kind.b 3 | met |"
