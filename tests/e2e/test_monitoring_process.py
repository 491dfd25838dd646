"""Monitoring end to end: predict_batch, predict_stream and monitor_drift as processes.

Traffic goes over HTTP and through the emulator's push subscription; the functions log it
to the prediction-log topic; monitor_drift answers a window's report and writes it to the
bucket. (Alerts and too-small windows: tests/integration/test_drift_job.py, and an alert
from a running monitor_drift: tests/integration/test_cli.py.)
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from infra import names
from model.dataset import load_diabetes
from tests.e2e.helpers import call, publish_requests, stream_results

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]
MODEL = names.MODEL_NAME
TRAINING_BMI = load_diabetes().X[:-20, 0]


def test_in_distribution_traffic_reports_both_transports_and_no_alert(start_system):
    system = start_system(["predict_batch", "predict_stream", "monitor_drift"])
    # A second subscription on the log: what it receives, the drift subscription has too.
    observer = system.add_subscription(names.PREDICTION_LOG)
    rng = np.random.default_rng(60)
    for _ in range(60):
        rows = rng.choice(TRAINING_BMI, (5, 1)).tolist()
        status, _ = call(f"{system.url('predict_batch')}/predict", {"instances": rows})
        assert status == 200
    bodies = {
        f"s-{index}": json.dumps({"instances": rng.choice(TRAINING_BMI, (5, 1)).tolist()}).encode()
        for index in range(60)
    }
    publish_requests(system, bodies)
    assert len(stream_results(system, 60, timeout=120)) == 60
    assert len(system.pull(observer, 120, timeout=60)) == 120  # every record published
    status, report = call(f"{system.url('monitor_drift')}/", b"", timeout=120)
    assert status == 200

    assert report["status"] == "ok"
    (version,) = report["versions"]
    assert version["version"] == 1
    assert version["records"] == 120
    for transport in ("http", "stream"):
        figures = version["transports"][transport]
        assert (figures["records"], figures["instances"]) == (60, 300)
        latency = figures["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    (bmi,) = version["features"]
    assert (bmi["feature"], bmi["n"]) == ("bmi", 600)
    assert bmi["psi"] < 0.1
    assert bmi["alert"] is False
    assert report["alerts"] == []
    assert system.pull(names.DRIFT_ALERTS_SUB, 1, timeout=3) == []

    # The report is in the bucket, its PNG an image.
    with contextlib.closing(system.storage_client()) as client:
        bucket = client.bucket(system.config.bucket)
        path = report["report"].removeprefix(f"gs://{system.config.bucket}/")
        assert path.startswith(f"monitoring/{MODEL}/drift/")
        assert json.loads(bucket.blob(path).download_as_bytes()) == report
        png = bucket.blob(path.removesuffix(".json") + ".png").download_as_bytes()
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
        assert image.format == "PNG"
