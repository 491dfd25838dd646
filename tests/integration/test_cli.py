"""`python -m mlctl` against fake-gcs-server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlctl.cli import main
from model.dataset import load_diabetes, to_csv

pytestmark = pytest.mark.emulators


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def test_help_lists_every_command(repository_root):
    result = subprocess.run(
        [sys.executable, "-m", "mlctl", "--help"],
        cwd=repository_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for command in ("train", "list", "describe", "promote", "rollback"):
        assert command in result.stdout


def test_train_list_describe_promote_rollback(serving_env, capsys, tmp_path):
    code, first, _ = run(capsys, "train")
    assert code == 0
    assert first["version"] == 1
    assert first["promoted"] is True
    assert first["metrics"]["r2"] == pytest.approx(0.4726, abs=0.001)

    csv = tmp_path / "diabetes.csv"
    csv.write_text(to_csv(load_diabetes()))
    code, second, _ = run(capsys, "train", "--csv", str(csv), "--holdout", "60", "--no-promote")
    assert code == 0
    assert (second["version"], second["promoted"]) == (2, False)

    code, listing, _ = run(capsys, "list")
    assert [v["version"] for v in listing["versions"]] == [1, 2]
    assert listing["aliases"] == {"production": 1}

    code, described, _ = run(capsys, "describe", "2")
    assert described["report"]["lineage"]["holdout_rows"] == 60
    assert described["report"]["data_sha256"] == described["lineage"]["data_sha256"]

    assert run(capsys, "promote", "2")[1]["version"] == 2
    assert run(capsys, "rollback")[1]["version"] == 1
    assert run(capsys, "list")[1]["aliases"] == {"production": 1}


def test_a_second_identical_model_does_not_beat_production(serving_env, capsys):
    run(capsys, "train")
    code, outcome, _ = run(capsys, "train")
    assert code == 0
    assert outcome["promoted"] is False
    assert "does not beat production version 1" in outcome["gate"]["reasons"][0]


def test_errors_are_one_line_and_exit_1(serving_env, capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("bmi,target\n0.1,abc\n")
    code, _, err = run(capsys, "train", "--csv", str(bad))
    assert code == 1
    assert err.strip() == "error: line 2, column 'target': not a number: 'abc'"
    code, _, err = run(capsys, "promote", "5")
    assert code == 1
    assert "has no version 5" in err
