"""`python -m mlctl` against fake-gcs-server."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from functions.serving.prediction_log import Entry, message
from infra import names
from mlctl.cli import build_parser, main
from model.dataset import load_diabetes, to_csv
from model.registry import RegistryConflict
from model.training_settings import read_settings, write_settings
from tests.pubsub_helpers import temporary_topic

pytestmark = pytest.mark.emulators


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def run_text(capsys, *argv: str) -> tuple[int, str, str]:
    """For the commands that print a table."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of the table under the line starting with `header`, to its first blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 1
    rows = []
    for line in lines[start:]:
        if not line.strip() or not line[0].isdigit():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def test_help_lists_every_command(repository_root):
    result = subprocess.run(
        [sys.executable, "-m", "mlctl", "--help"],
        cwd=repository_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for command in (
        "train",
        "settings",
        "upload",
        "events",
        "list",
        "describe",
        "leaderboard",
        "promote",
        "rollback",
        "drift",
        "alerts",
    ):
        assert command in result.stdout


def test_train_list_describe_promote_rollback(serving_env, capsys, tmp_path):
    code, first, _ = run(capsys, "train")
    assert code == 0
    assert first["version"] == 1
    assert first["promoted"] is True
    assert first["metrics"]["r2"] == pytest.approx(0.3625, abs=0.001)  # a seeded 20% test split

    csv = tmp_path / "diabetes.csv"
    csv.write_text(to_csv(load_diabetes()))
    code, second, _ = run(capsys, "train", "--csv", str(csv), "--holdout", "60", "--no-promote")
    assert code == 0
    assert (second["version"], second["promoted"]) == (2, False)

    code, listing, _ = run(capsys, "list")
    assert [v["version"] for v in listing["versions"]] == [1, 2]
    # The same data again, its last 60 rows as the test split: not surely better than v1.
    assert [v["gate"] for v in listing["versions"]] == ["promoted", "rejected"]
    assert listing["versions"][0]["gate_reasons"][-1] == (
        "first version of the model: no production version to beat"
    )
    assert listing["aliases"] == {"production": 1}

    code, described, _ = run(capsys, "describe", "2", "--json")
    assert described["gate"] == described["report"]["gate"]["decision"] == "rejected"
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
    assert err.strip() == "error: line 2, column 'target': 'abc' is not a number"
    code, _, err = run(capsys, "promote", "5")
    assert code == 1
    assert "has no version 5" in err


def test_train_csv_validates_like_an_upload(serving_env, capsys, tmp_path):
    run(capsys, "train")
    wider = tmp_path / "wider.csv"
    wider.write_text(to_csv(load_diabetes(("bp", "bmi"))))
    code, outcome, err = run(capsys, "train", "--csv", str(wider), "--no-promote")
    assert code == 0, err
    assert outcome["version"] == 2
    code, described, _ = run(capsys, "describe", "2", "--json")
    assert described["features"] == ["bmi"]
    validation = described["report"]["validation"]
    assert validation["warnings"][0] == (
        "line 1: column 'bp' is not a feature of production version 1 and is ignored"
    )
    assert validation["duplicate_rows"] == 2  # without 'bp', two rows repeat others
    narrower = tmp_path / "narrower.csv"
    narrower.write_text(to_csv(load_diabetes(("bp",))))
    code, _, err = run(capsys, "train", "--csv", str(narrower))
    assert code == 1
    assert "the header has no column 'bmi' (a feature of production version 1)" in err


def test_upload_lands_in_incoming_and_events_reads_model_events(
    serving_env, capsys, tmp_path, gcs, local_cloud
):
    data = tmp_path / "new-data.csv"
    data.write_text(to_csv(load_diabetes()))
    code, uploaded, _ = run(capsys, "upload", str(data), "--model", "other-model")
    assert code == 0
    name = "datasets/other-model/incoming/new-data.csv"
    blob = gcs.bucket(serving_env).get_blob(name)
    assert uploaded == {
        "uri": f"gs://{serving_env}/{name}",
        "generation": blob.generation,
        "dataset": f"gs://{serving_env}/{name}#{blob.generation}",
    }
    assert blob.download_as_bytes() == data.read_bytes()

    with (
        temporary_topic(local_cloud, "events") as topic,
        local_cloud.pubsub_clients() as (
            publisher,
            _,
        ),
    ):
        publisher.publish(topic.path, b'{"event": "promoted"}', event="promoted").result(30)
        code, _, _ = run(
            capsys,
            "events",
            "--subscription",
            topic.subscription.rsplit("/")[-1],
            "--count",
            "1",
            "--timeout",
            "30",
        )
    assert code == 0


def test_drift_and_alerts_through_a_running_monitor_drift(start_system, monkeypatch, capsys):
    """`mlctl drift` calls the function by URL; `mlctl alerts --count` reads what it sent."""
    system = start_system(["monitor_drift"])
    with contextlib.closing(system.storage_client()) as client:
        artifact = system.registry(client).load(names.MODEL_NAME, 1)
    X = np.full((150, 1), 0.2)  # far above the training values of bmi
    raw = message(Entry("http", "r", artifact, X, artifact.predict(X), len(X), 1.0, 0.0))
    system.publish(names.PREDICTION_LOG, raw.data, **dict(raw.attributes))
    code = main(["drift", "--url", f"{system.url('monitor_drift')}/"])
    table = capsys.readouterr().out
    assert code == 0
    assert "version  status  feature  n    PSI" in table
    assert re.search(r"^1\s+drift\s+bmi\s+150\s+\d+\.\d{3}\s+drift", table, re.MULTILINE)
    assert "alerts: version 1 bmi PSI" in table

    for key, value in system.cloud.env().items():
        monkeypatch.setenv(key, value)
    subscription = system.config.resource(names.DRIFT_ALERTS_SUB)
    code = main(["alerts", "--count", "1", "--timeout", "30", "--subscription", subscription])
    (line,) = capsys.readouterr().out.splitlines()
    assert code == 0
    alert = json.loads(line)
    assert alert["attributes"] == {"model": "diabetes-bmi", "version": "1", "feature": "bmi"}
    assert alert["data"]["psi"] >= 0.2


def test_alerts_reads_performance_alerts_when_asked():
    assert build_parser().parse_args(["alerts"]).subscription == names.DRIFT_ALERTS_SUB
    performance = build_parser().parse_args(["alerts", "--performance"])
    assert performance.subscription == names.PERFORMANCE_ALERTS_SUB


def test_train_a_family_with_parameters_for_any_model(serving_env, capsys):
    code, _outcome, err = run(
        capsys, "train", "--family", "ridge", "--param", "alpha=0.5", "--model", "other"
    )
    assert code == 0, err
    code, described, _ = run(capsys, "describe", "1", "--model", "other", "--json")
    assert (described["family"], described["params"], described["format"]) == (
        "ridge",
        {"alpha": 0.5},
        "linear-json",
    )
    assert described["features"] == ["bmi"]
    assert len(described["weights"]) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--family", "svm"], "error: unknown family 'svm': use one of linear, ridge, lasso, "),
        (["--family", "ridge", "--param", "depth=2"], "error: family ridge: unknown parameter"),
        (["--family", "lasso", "--param", "alpha=-1"], "error: family lasso: The 'alpha' param"),
        (["--param", "alpha=1"], "error: parameters need a family: give --family"),
    ],
)
def test_a_bad_family_or_parameter_exits_2_and_registers_nothing(
    serving_env, capsys, argv, message
):
    code, _, err = run(capsys, "train", *argv)
    assert code == 2
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert run(capsys, "list")[1]["versions"] == []


def test_settings_choose_what_train_fits_and_change_by_compare_and_swap(serving_env, capsys):
    assert run(capsys, "settings")[1] == {
        "model": names.MODEL_NAME, "family": None, "params": {}, "features": None,
        "confidence": 0.95, "min_r2": None, "search": None, "feedback": False,
        "retraining": None, "generation": 0,
    }  # fmt: skip
    code, settings, err = run(
        capsys, "settings", "--family", "hist_gradient_boosting", "--param", "max_iter=5",
        "--features", "bmi,bp", "--feedback", "on",
    )  # fmt: skip
    assert code == 0, err
    assert (settings["family"], settings["params"], settings["features"]) == (
        "hist_gradient_boosting",
        {"max_iter": 5},
        ["bmi", "bp"],
    )
    assert settings["feedback"] is True
    code, outcome, err = run(capsys, "train")
    assert code == 0, err
    described = run(capsys, "describe", str(outcome["version"]), "--json")[1]
    assert (described["format"], described["params"]) == ("onnx", {"max_iter": 5})
    assert described["features"] == ["bmi", "bp"]

    assert run(capsys, "settings", "--family", "ridge")[1]["params"] == {}  # a new family
    code, _, err = run(capsys, "settings", "--param", "alfa=1")
    assert code == 2
    assert "unknown parameter 'alfa'" in err


def test_settings_written_from_a_stale_read_are_refused(registry):
    first = read_settings(registry, "m")
    write_settings(registry, "m", first.changed("ridge"))
    with pytest.raises(RegistryConflict, match="changed since it was read"):
        write_settings(registry, "m", first.changed("lasso"))
    assert read_settings(registry, "m").family == "ridge"


def test_train_search_registers_the_winner_with_its_leaderboard(serving_env, capsys):
    code, outcome, err = run(
        capsys, "train", "--features", "bmi,bp,s5", "--search", "--families", "linear,ridge",
        "--budget", "4", "--cv", "3x1",
    )  # fmt: skip
    assert code == 0, err
    report = run(capsys, "describe", str(outcome["version"]), "--json")[1]["report"]
    leaderboard = report["leaderboard"]
    assert {row["family"] for row in leaderboard} <= {"linear", "ridge"}
    assert leaderboard[0]["family"] == run(capsys, "describe", "1", "--json")[1]["family"]
    assert report["evaluation"]["search"]["candidates"] == len(leaderboard)
    assert report["evaluation"]["cv"]["folds"] == 3


def test_leaderboard_and_describe_print_tables_of_the_report(serving_env, capsys):
    features = "bmi,bp,s5"
    search = ["--search", "--families", "linear,ridge", "--budget", "4", "--cv", "2x1"]
    code, _, err = run(capsys, "train", "--features", features, *search)
    assert code == 0, err
    report = run(capsys, "describe", "1", "--json")[1]["report"]

    code, text, err = run_text(capsys, "leaderboard")  # the production alias's version: 1
    assert code == 0, err
    assert text.startswith(f"model {names.MODEL_NAME} version 1: ")
    rows = table_rows(text, "rank")
    assert len(rows) == len(report["leaderboard"]) >= 1
    for rank, (cells, entry) in enumerate(zip(rows, report["leaderboard"], strict=True), 1):
        assert cells[:2] == [str(rank), entry["family"]]
        assert cells[3] == f"{entry['cv_r2_mean']:.4f} ± {entry['cv_r2_std']:.4f}"
    code, as_json, _ = run(capsys, "leaderboard", "1", "--json")
    assert as_json["leaderboard"] == report["leaderboard"]

    code, text, _ = run_text(capsys, "describe", "1")
    assert re.search(r"^gate\s+promoted$", text, re.MULTILINE)
    assert len(table_rows(text, "rank")) == min(5, len(report["leaderboard"]))
    curve = report["evaluation"]["learning_curve"]
    sizes = [cells[0] for cells in table_rows(text, "training rows")]
    assert sizes == [str(size) for size in curve["sizes"]]

    # Without a search: its one model, from its cross-validation; --model after the command.
    code, _, err = run(
        capsys, "train", "--family", "ridge", "--param", "alpha=0.5", "--model", "other"
    )
    assert code == 0, err
    code, text, err = run_text(capsys, "leaderboard", "1", "--model", "other")
    assert code == 0, err
    assert "no search" in text.splitlines()[0]
    ((rank, family, params, r2, *_),) = table_rows(text, "rank")
    assert (rank, family, params) == ("1", "ridge", "alpha=0.5")
    cv = run(capsys, "--model", "other", "describe", "1", "--json")[1]["report"]["evaluation"]["cv"]
    assert r2 == f"{cv['r2']['mean']:.4f} ± {cv['r2']['std']:.4f}"


def test_leaderboard_without_a_production_version_names_the_way_out(serving_env, capsys):
    code, _, err = run_text(capsys, "leaderboard")
    assert code == 1
    assert err.strip().endswith("has no 'production' alias: name a version")
