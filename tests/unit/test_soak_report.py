"""The soak's README table: rendered from results.json, replacing only its own block."""

from __future__ import annotations

import pytest

from soak import report

SECURITY = {
    "static": {"files_scanned": 3, "findings": []},
    "checkov": {"passed": 29, "failed": 0, "skipped": 12},
    "echo": {"probes_sent": 430, "echoes_found": 0},
}


def results(passed: bool, misses: list[str]) -> dict:
    scenario = {"passed": passed, "misses": misses, "figures": SECURITY}
    return {
        "commit": "abc1234",
        "seconds": 12.3,
        "passed": passed,
        "scenarios": {"security": scenario},
    }


def test_a_met_scenario_shows_its_figures():
    text = report.table(results(True, []))
    assert "`abc1234`: 12 s, every target met" in text
    assert "| security | static scan of 3 files: 0 findings; checkov 29 passed, 0 failed" in text
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
