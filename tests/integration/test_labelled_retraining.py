"""Retraining on what was learned (docs/training.md): the labelled rows of a window uploaded
as a dataset when the model's setting takes the trigger, once; continuous training then
decides as for any upload, and its event says what triggered it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from functions.monitoring import retraining
from functions.platform import logs
from infra.names import MODEL_NAME as MODEL
from mlctl.cli import main
from model.continuous_training import RetrainSettings, retrain, upload_of
from model.feedback import row_path
from model.labelled_retraining import retrain_from_labels, training_data
from model.run_ledger import RunLedger
from model.training_settings import read_settings
from tests.clients import function_client

pytestmark = pytest.mark.emulators
NOW = datetime.now(UTC)


def write_rows(registry, rows: int, days_ago: float = 1.0) -> None:
    """Labelled rows of the served model whose labels follow another relation than its own."""
    rng = np.random.default_rng(25)
    when = (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")
    for i in range(rows):
        x = float(rng.uniform(-0.1, 0.1))
        row = {
            "request_id": f"r{i}", "index": 0, "label": 150 - 900 * x + rng.normal(0, 3),
            "prediction": 0.0, "model": MODEL, "version": 1, "features": [x],
            "feature_names": ["bmi"], "request_time": when, "label_time": when,
            "transport": "http",
        }  # fmt: skip
        path = row_path(MODEL, when, f"k{i}", 0)
        registry.bucket.blob(path).upload_from_string(json.dumps(row) + "\n")


def settings(capsys, *argv: str) -> dict:
    # What a function in this process logged is not the command's answer: its queued lines
    # are written now, by this thread, not by the log's during the command.
    logs.flush()
    capsys.readouterr()
    assert main(["settings", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_an_alert_uploads_the_window_once_and_retraining_names_it(
    gcs, bucket, registry, production, serving_env, capsys
):
    write_rows(registry, 200)
    write_rows(registry, 50, days_ago=20)  # outside a 7-day window
    alert = {"metric": "rmse", "version": "1"}

    off = retrain_from_labels(registry, MODEL, "performance_alert", NOW, ("bmi",), None, alert)
    assert off.upload is None
    assert "does not take performance_alert" in off.reason
    shown = settings(
        capsys, "--retrain-on", "performance_alert", "--retrain-window-days", "7",
        "--retrain-with-training-data", "on",
    )  # fmt: skip
    assert shown["retraining"] == {
        "triggers": ["performance_alert"], "window_days": 7, "with_training_data": True,
    }  # fmt: skip
    base = training_data(registry, production)
    assert base is not None  # the bundled rows, found by the version's fingerprint

    first = retrain_from_labels(registry, MODEL, "performance_alert", NOW, ("bmi",), base, alert)
    again = retrain_from_labels(registry, MODEL, "performance_alert", NOW, ("bmi",), base, alert)

    assert first.rows == again.rows == 200 + base.rows
    assert (first.upload, again.reason) == (again.upload, "uploaded already by an earlier run")
    name = first.upload.removeprefix(f"gs://{registry.bucket_name}/")
    blob = registry.bucket.get_blob(name)
    assert blob.metadata["trigger"] == "performance_alert"
    assert (blob.metadata["labelled_rows"], blob.metadata["metric"]) == ("200", "rmse")
    upload = upload_of(registry.bucket_name, name, blob.generation)
    ledger = RunLedger(gcs, bucket, lease_seconds=60)
    event = retrain(registry, ledger, upload, blob.download_as_bytes, RetrainSettings())
    assert event.trigger == "performance_alert"
    assert event.event in ("promoted", "rejected")
    assert read_settings(registry, MODEL).retraining.window_days == 7


def test_the_schedule_tick_uploads_for_the_models_that_take_it(
    registry, production, serving_env, capsys
):
    write_rows(registry, 120, days_ago=0)  # labelled this very hour: counted all the same
    client = function_client("monitor_drift")
    assert client.post("/retrain").json()["retrainings"] == []  # no setting: nothing
    settings(capsys, "--retrain-on", "schedule,performance_alert")

    first = client.post("/retrain").json()
    tick = datetime.fromisoformat(first["tick"])
    again = retraining.scheduled(registry, tick + timedelta(minutes=59))  # a retried tick

    ((made,), (repeated,)) = first["retrainings"], again["retrainings"]
    assert (made["trigger"], made["rows"], made["reason"]) == ("schedule", 120, "uploaded")
    assert made["upload"].endswith(f"labelled-schedule-{tick:%Y%m%dT%H}0000Z.csv")
    assert repeated["upload"] == made["upload"]
    assert repeated["reason"] == "uploaded already by an earlier run"
