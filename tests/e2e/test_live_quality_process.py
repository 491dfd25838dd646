"""Live quality end to end: monitor_drift as a process reads labelled rows from the bucket,
reports each version beside its test scores and alerts on performance-alerts, once per
cooldown.

The rows are written as join_feedback writes them (docs/feedback.md) for the first model,
whose test scores its registry report holds; the inputs are the diabetes data's own, so only
the relation between inputs and target differs between the two windows.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from google.cloud import storage
from PIL import Image

from infra import names
from infra.local.system import LocalSystem
from mlctl.cli import main
from model.dataset import load_diabetes
from tests.e2e.helpers import call

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]
MODEL = names.MODEL_NAME
LABELS = 300


@contextlib.contextmanager
def bucket_of(system: LocalSystem) -> Iterator[storage.Bucket]:
    with contextlib.closing(system.storage_client()) as client:
        yield client.bucket(system.config.bucket)


def write_rows(bucket: storage.Bucket, rows: list[dict[str, object]]) -> list[str]:
    """Each row at its joined row's path; the paths."""
    paths = [
        f"labelled/{row['model']}/date={str(row['label_time'])[:10]}/{row['request_id']}-0.json"
        for row in rows
    ]
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda pair: bucket.blob(pair[0]).upload_from_string(json.dumps(pair[1])),
                zip(paths, rows, strict=True),
            )
        )
    return paths


def labelled_rows(
    system: LocalSystem, now: datetime, changed: bool, seed: int
) -> list[dict[str, object]]:
    """LABELS rows of version 1: diabetes inputs, the served model's predictions, and the
    true targets, or (changed) targets whose relation to the inputs is reversed."""
    data = load_diabetes(("bmi",))
    with contextlib.closing(system.storage_client()) as client:
        artifact = system.registry(client).load(MODEL, 1)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(data.y.size, LABELS, replace=False)
    X, y = data.X[chosen], data.y[chosen]
    labels = 2 * data.y.mean() - y if changed else y
    predictions = artifact.predict(X)
    return [
        {
            "request_id": uuid.uuid4().hex,
            "index": 0,
            "label": float(label),
            "prediction": float(prediction),
            "model": MODEL,
            "version": 1,
            "features": [float(x[0])],
            "feature_names": ["bmi"],
            "request_time": (now - timedelta(minutes=5 + i % 60)).isoformat(),
            "label_time": (now - timedelta(minutes=1 + i % 60)).isoformat(),
            "transport": "http",
        }
        for i, (x, label, prediction) in enumerate(zip(X, labels, predictions, strict=True))
    ]


def run(system: LocalSystem) -> dict[str, Any]:
    status, answer = call(f"{system.url('monitor_drift')}/performance", b"", timeout=60)
    assert status == 200, answer
    return answer


def test_quality_reports_versions_and_alerts_once_per_cooldown_on_a_changed_relation(
    start_system, monkeypatch, capsys
):
    system = start_system(["monitor_drift", "retrain"])
    now = datetime.now(UTC)
    with contextlib.closing(system.storage_client()) as client:
        test = system.registry(client).report(MODEL, 1)["metrics"]
    with bucket_of(system) as bucket:
        unchanged = write_rows(bucket, labelled_rows(system, now, changed=False, seed=1))
        # Outside the window: a row labelled 25 hours ago (in a partition the window touches,
        # filtered by its time) and an unreadable object three days back (a partition never
        # listed: it would count as an invalid row).
        old = labelled_rows(system, now - timedelta(hours=25), changed=True, seed=2)[:1]
        write_rows(bucket, old)
        three_days = (now - timedelta(days=3)).date().isoformat()
        bucket.blob(f"labelled/{MODEL}/date={three_days}/x-0.json").upload_from_string(b"{")

    answer = run(system)
    (report,) = answer["reports"]
    assert report["status"] == "ok"
    assert report["window"]["rows"] == LABELS
    assert report["window"]["invalid_rows"] == 0
    assert report["window"]["partitions"] == sorted(
        {(now - timedelta(hours=24)).date().isoformat(), now.date().isoformat()}
    )
    (version,) = report["versions"]
    assert (version["version"], version["n"], version["status"]) == (1, LABELS, "ok")
    for figure in version["metrics"]:
        assert figure["expected"] == test[figure["metric"]]
        assert figure["worse"] is False
    assert report["alerts"] == []
    assert system.pull(names.PERFORMANCE_ALERTS_SUB, 1, timeout=2) == []
    with bucket_of(system) as bucket:
        path = report["report"].removeprefix(f"gs://{system.config.bucket}/")
        assert path.startswith(f"monitoring/{MODEL}/performance/")
        assert json.loads(bucket.blob(path).download_as_bytes()) == report
        png = bucket.blob(path.removesuffix(".json") + ".png").download_as_bytes()
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
        # The same inputs, a reversed relation: every metric is worse.
        bucket.delete_blobs([bucket.blob(name) for name in unchanged])
        write_rows(bucket, labelled_rows(system, now, changed=True, seed=1))
    for key, value in system.cloud.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MODEL_BUCKET", system.config.bucket)
    assert main(["settings", "--retrain-on", "performance_alert"]) == 0

    (report,) = run(system)["reports"]
    assert report["status"] == "worse"
    # The alert retrains on the labelled rows, gated as any upload, its event naming why:
    # those of the setting's 30 days, so the row of 25 hours ago too (the broken object is not
    # a row).
    assert (report["retraining"]["trigger"], report["retraining"]["rows"]) == (
        "performance_alert",
        LABELS + 1,
    )
    (event,) = system.pull_json(names.MODEL_EVENTS_SUB, 1, timeout=60)
    assert event["trigger"] == "performance_alert"
    assert event["dataset"].startswith(report["retraining"]["upload"] + "#")
    assert event["event"] in ("promoted", "rejected")
    assert [alert["metric"] for alert in report["alerts"]] == ["rmse", "mae", "r2"]
    messages = system.pull(names.PERFORMANCE_ALERTS_SUB, 3, timeout=10)
    alerts = sorted((json.loads(message.data) for message in messages), key=lambda a: a["metric"])
    assert [alert["metric"] for alert in alerts] == ["mae", "r2", "rmse"]
    for message in messages:
        assert dict(message.attributes) == {"model": MODEL, "version": "1"}
    mae, r2, rmse = alerts
    assert rmse["value"] > rmse["expected"] == test["rmse"]
    assert rmse["ci95"][0] > test["rmse"]
    assert mae["ci95"][0] > test["mae"]
    assert r2["ci95"][1] < test["r2"]
    assert (rmse["n"], rmse["version"], rmse["window"]["hours"]) == (LABELS, 1, 24.0)

    # Within the cooldown the same findings alert nobody (and the run above sent no fourth).
    (report,) = run(system)["reports"]
    assert report["status"] == "worse"
    assert report["alerts"] == []
    assert [alert["metric"] for alert in report["in_cooldown"]] == ["rmse", "mae", "r2"]
    assert system.pull(names.PERFORMANCE_ALERTS_SUB, 1, timeout=2) == []

    # mlctl performance prints the newest report.
    capsys.readouterr()
    assert main(["performance"]) == 0
    table = capsys.readouterr().out
    assert re.search(rf"^1\s+worse\s+{LABELS}\s+rmse\s", table, re.MULTILINE)
    assert "in cooldown, not sent: version 1 rmse, version 1 mae, version 1 r2" in table
    assert main(["performance", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report
