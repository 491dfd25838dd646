"""`mlctl assess-retraining --labelled`: the backtest over a model's joined rows in the
registry's bucket (docs/feedback.md's row format) against fake-gcs-server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from mlctl.cli import main
from model.drifting_data import drifting_data
from model.feedback import row_path

pytestmark = pytest.mark.emulators

MODEL = "drifty"
START = datetime(2026, 3, 1, 9, tzinfo=UTC)


def joined_row(index: int, day: int, features: list[float], names: list[str], label: float):
    label_time = (START + timedelta(days=day, minutes=index)).isoformat().replace("+00:00", "Z")
    return {
        "request_id": f"r-{index}",
        "index": 0,
        "label": label,
        "prediction": 0.0,
        "model": MODEL,
        "version": 1,
        "features": features,
        "feature_names": names,
        "request_time": label_time,
        "label_time": label_time,
        "transport": "http",
    }


def test_labelled_rows_are_backtested_by_their_label_time(gcs, bucket, serving_env, capsys):
    data = drifting_data(("bmi", "s5"), 0.0, days=40, rows_per_day=4)
    columns = zip(data.day.tolist(), data.X.tolist(), data.y.tolist(), strict=True)
    rows = [joined_row(i, day, x, ["bmi", "s5"], y) for i, (day, x, y) in enumerate(columns)]
    # A version trained on other features: its rows are left out, and counted.
    rows += [joined_row(len(rows) + i, 3, [0.1], ["bmi"], 150.0) for i in range(2)]
    target = gcs.bucket(bucket)
    with ThreadPoolExecutor(16) as workers:
        list(
            workers.map(
                lambda row: target.blob(
                    row_path(MODEL, row["label_time"], row["request_id"], 0)
                ).upload_from_string(orjson.dumps(row)),
                rows,
            )
        )

    argv = ["--bucket", bucket, "--model", MODEL, "assess-retraining", "--labelled"]
    options = ["--window", "10", "--intervals", "1,5,10", "--json"]
    assert main([*argv, *options]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["time_column"], result["time_format"]) == ("label_time", "iso8601")
    assert (result["first_day"], result["last_day"]) == ("2026-03-01", "2026-04-09")
    assert (result["rows"], result["rows_left_out"]) == (160, 2)
    assert result["features"] == ["bmi", "s5"]
    assert result["recommended_interval_days"] == 10  # no drift: the longest
