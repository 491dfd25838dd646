"""`mlctl rollout --auto`: a rollout judged on its labelled traffic (docs/rollout.md), the
labelled rows as the join writes them, the event on model-events."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from infra.names import MODEL_NAME as MODEL
from mlctl.cli import main
from model.artifact import LinearWeights
from model.feedback import row_path
from model.rollout import read_rollout, start_rollout
from tests.clients import function_client
from tests.pubsub_helpers import pull, temporary_topic

pytestmark = pytest.mark.emulators


@pytest.fixture
def rollout(registry, production, trained_artifact, serving_env):
    """Version 2, another line through the same feature, rolling out at 50%."""
    weights = trained_artifact.predictor
    other = LinearWeights((weights.weights[0] * 0.5,), weights.bias + 10.0)
    registry.register(replace(trained_artifact, predictor=other))
    start_rollout(registry, MODEL, 2, 50.0)
    return registry


@pytest.fixture
def events(local_cloud, monkeypatch):
    with temporary_topic(local_cloud, "events") as topic, local_cloud.pubsub_clients() as (_, sub):
        monkeypatch.setenv("MODEL_EVENTS_TOPIC", topic.name)
        yield lambda: pull(sub, topic.subscription, 1, 20.0)


def label_traffic(registry, truth: int, rows: int) -> None:
    """`rows` labelled instances, answered half by each version, whose labels follow version
    `truth`'s line plus noise."""
    rng = np.random.default_rng(truth)
    model = {v: registry.load(MODEL, v) for v in (1, 2)}
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for i in range(rows):
        x = [float(rng.uniform(-0.1, 0.1))]
        version = 1 + i % 2
        row = {
            "request_id": f"r{i}",
            "index": 0,
            "label": float(model[truth].predict(np.array([x]))[0] + rng.normal(0, 5)),
            "prediction": float(model[version].predict(np.array([x]))[0]),
            "model": MODEL,
            "version": version,
            "features": x,
            "feature_names": ["bmi"],
            "request_time": now,
            "label_time": now,
            "transport": "http",
        }
        path = row_path(MODEL, now, f"k{i}", 0)
        registry.bucket.blob(path).upload_from_string(json.dumps(row) + "\n")


def auto(capsys) -> dict:
    assert main(["rollout", "--auto"]) == 0
    return json.loads(capsys.readouterr().out)


def test_too_few_labels_keep_the_rollout_going(rollout, capsys):
    label_traffic(rollout, truth=2, rows=60)
    result = auto(capsys)
    assert result["judgement"]["decision"] == "wait"
    assert "a decision needs 100" in result["judgement"]["reasons"][0]
    assert read_rollout(rollout, MODEL) is not None


@pytest.mark.parametrize(
    ("truth", "decision", "kind", "serving"),
    [(2, "promote", "rollout_promoted", 2), (1, "abort", "rollout_aborted", 1)],
)
def test_the_better_version_on_labels_takes_all_traffic(
    rollout, events, capsys, truth, decision, kind, serving
):
    label_traffic(rollout, truth, rows=300)

    result = auto(capsys)

    assert result["judgement"]["decision"] == decision
    assert result["judgement"]["served"] == {"1": 150, "2": 150}
    assert read_rollout(rollout, MODEL) is None
    assert rollout.aliases(MODEL)["production"] == serving
    (message,) = events()
    event = json.loads(message.data)
    assert event["event"] == kind
    assert (event["version"], event["production_version"]) == (2, serving)
    assert event["reasons"] == result["judgement"]["reasons"]
    assert "300 labelled rows" in event["reasons"][0]


def test_the_quality_report_compares_a_rollout_on_its_labelled_rows(
    rollout, local_cloud, monkeypatch
):
    label_traffic(rollout, truth=2, rows=300)
    with temporary_topic(local_cloud, "perf") as topic:
        monkeypatch.setenv("PERFORMANCE_ALERTS_TOPIC", topic.name)
        response = function_client("monitor_drift").post("/performance")

    assert response.status_code == 200, response.text
    (report,) = response.json()["reports"]
    compared = report["rollout"]
    assert (compared["candidate"], compared["production"], compared["percent"]) == (2, 1, 50.0)
    assert (compared["decision"], compared["rows"]) == ("promote", 300)
    assert compared["candidate_rmse"] < compared["production_rmse"]
    assert read_rollout(rollout, MODEL) is not None  # the report decides nothing
