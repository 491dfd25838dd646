"""`make run` runs a drift window every DRIFT_INTERVAL_SECONDS and the live quality job every
QUALITY_INTERVAL_SECONDS, as Cloud Scheduler does."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from infra.local import drift_schedule
from infra.local.errors import LocalCloudError
from tests.e2e.helpers import wait_until
from tests.e2e.test_make_run import SERVING, Launch

pytestmark = pytest.mark.e2e


def test_make_run_calls_monitor_drift_on_its_interval(tmp_path: Path) -> None:
    launch = Launch(
        tmp_path / "gcs",
        tmp_path / "logs",
        DRIFT_INTERVAL_SECONDS="1",
        QUALITY_INTERVAL_SECONDS="1",
    )
    try:
        launch.wait_for(SERVING)
        assert "drift windows every 1 s: POST http://127.0.0.1:" in launch.output
        assert re.search(
            r"live quality every 1 s: POST http://127\.0\.0\.1:\d+/performance", launch.output
        )
        # No labels yet: the job prints nothing, and its request is in the function's log.
        log = tmp_path / "logs" / "monitor_drift.log"
        wait_until(
            lambda: log.exists() and '"POST /performance 200"' in log.read_text(),
            timeout=30,
            what="a quality run",
        )
        # The sample predictions are the window's records: the legacy URL's, the stream's,
        # and each of the two models' by /predict and by the Open Inference Protocol.
        launch.wait_for("drift window: 6 records", timeout=60)
        line = next(x for x in launch.output.splitlines() if x.startswith("drift window: 6"))
        assert "version 1 too_few_samples: bmi PSI" in line
        assert re.search(r"report gs://ml-artifacts/monitoring/diabetes-bmi/drift/\S+\.json", line)
        assert launch.stop(signal.SIGINT) == 0
        launch.assert_nothing_left()
    finally:
        launch.kill_leftovers()


def test_the_interval_must_be_positive() -> None:
    assert drift_schedule.interval_from_environ({}) == 60.0
    assert drift_schedule.interval_from_environ({"DRIFT_INTERVAL_SECONDS": "2.5"}) == 2.5
    for bad in ("0", "-1", "soon"):
        with pytest.raises(LocalCloudError, match="DRIFT_INTERVAL_SECONDS"):
            drift_schedule.interval_from_environ({"DRIFT_INTERVAL_SECONDS": bad})
    key, default = "QUALITY_INTERVAL_SECONDS", drift_schedule.DEFAULT_QUALITY_INTERVAL_SECONDS
    assert drift_schedule.interval_from_environ({}, key, default) == 300.0
    with pytest.raises(LocalCloudError, match=key):
        drift_schedule.interval_from_environ({key: "0"}, key, default)


def test_an_empty_window_prints_nothing() -> None:
    assert drift_schedule.summary({"window": {"records": 0}}) is None
    line = drift_schedule.summary(
        {
            "window": {"records": 3},
            "versions": [
                {"version": 2, "status": "drift", "features": [{"feature": "bmi", "psi": 0.25}]}
            ],
            "alerts": [{}],
            "report": "gs://b/r.json",
        }
    )
    assert (
        line
        == "drift window: 3 records; version 2 drift: bmi PSI 0.250; 1 alerts; report gs://b/r.json"
    )


def test_a_quality_run_prints_a_line_per_model_with_labels() -> None:
    assert drift_schedule.quality_summary({"reports": []}) is None
    figure = {"metric": "rmse", "value": 75.12, "expected": 61.5}
    version = {"version": 1, "status": "worse", "n": 412, "metrics": [figure]}
    report = {"model": "m", "versions": [version], "alerts": [{}, {}], "report": "gs://b/r.json"}
    assert drift_schedule.quality_summary({"reports": [report]}) == (
        "quality: m; v1 worse 412 labels RMSE 75.12 (test 61.5); 2 alerts; report gs://b/r.json"
    )
