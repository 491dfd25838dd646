"""Live quality on synthetic labelled rows: the model was tested on one relation between
input and target; traffic keeps it, or changes it with the inputs left as they were."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from model import live_quality
from model.live_quality import InvalidRow, parse_row, version_quality
from model.metrics import regression_metrics

MIN_LABELS = 100


def predict(x: np.ndarray) -> np.ndarray:
    return 3.0 * x + 10.0


def relation(x: np.ndarray, rng: np.random.Generator, slope: float = 3.0) -> np.ndarray:
    return slope * x + 10.0 + rng.normal(0.0, 5.0, x.size)


def scores_on_test_split(rows: int = 90, seed: int = 99) -> dict[str, float]:
    """What training writes in report.json's metrics: the model scored on its test split."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 4.0, rows)
    return regression_metrics(relation(x, rng), predict(x))


TEST = live_quality.expected_scores({"metrics": scores_on_test_split()})


def live(n: int, seed: int, slope: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions of n requests: the inputs drawn as in testing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 4.0, n)
    return relation(x, rng, slope), predict(x)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [100, 2_000])
def test_rows_of_the_tested_relation_raise_no_alert(n, seed):
    labels, predictions = live(n, seed)
    quality = version_quality(1, labels, predictions, TEST, MIN_LABELS)

    assert quality["status"] == "ok"
    assert live_quality.alerts("m", [quality], {}) == []
    for figure in quality["metrics"]:
        low, high = figure["ci95"]
        assert low <= figure["value"] <= high
        assert figure["expected"] == TEST[figure["metric"]]


def test_a_changed_relation_with_the_same_inputs_alerts_on_every_metric():
    labels, predictions = live(400, seed=1, slope=2.0)  # same inputs, targets lower
    quality = version_quality(3, labels, predictions, TEST, MIN_LABELS)

    assert quality["status"] == "worse"
    window = {"start": "a", "end": "b", "hours": 24.0}
    alerts = live_quality.alerts("m", [quality], window)
    assert [alert["metric"] for alert in alerts] == ["rmse", "mae", "r2"]
    rmse = alerts[0]
    assert rmse["model"] == "m"
    assert (rmse["version"], rmse["n"], rmse["window"]) == (3, 400, window)
    assert rmse["expected"] == TEST["rmse"]
    assert rmse["ci95"][0] > TEST["rmse"]
    assert rmse["value"] > 1.15 * TEST["rmse"]
    assert rmse["reason"].startswith("live RMSE ")
    assert "400 labels" in rmse["reason"]
    r2 = alerts[2]
    assert r2["ci95"][1] < TEST["r2"]
    assert set(rmse) == {
        "model",
        "version",
        "metric",
        "value",
        "expected",
        "ci95",
        "n",
        "window",
        "reason",
    }


def test_below_the_minimum_labels_there_is_no_alert_whatever_the_figures():
    labels, predictions = live(MIN_LABELS - 1, seed=1, slope=0.0)
    quality = version_quality(1, labels, predictions, TEST, MIN_LABELS)

    assert quality["status"] == "too_few_labels"
    assert "QUALITY_MIN_LABELS" in quality["message"]
    assert quality["metrics"][0]["value"] > 2 * TEST["rmse"]  # plainly worse, yet:
    assert live_quality.alerts("m", [quality], {}) == []


def test_a_version_without_test_scores_is_reported_without_judging():
    labels, predictions = live(500, seed=1, slope=0.0)
    quality = version_quality(1, labels, predictions, None, MIN_LABELS)

    assert quality["status"] == "no_test_scores"
    assert [figure["expected"] for figure in quality["metrics"]] == [None] * 3
    assert live_quality.alerts("m", [quality], {}) == []
    assert live_quality.expected_scores(None) is None
    assert live_quality.expected_scores({"metrics": {"r2": 0.3}}) is None


def test_the_test_splits_noise_widens_the_threshold():
    """A score measured on few test rows is uncertain too: the bar moves away from it."""
    ci95 = (60.0, 64.0)
    exact = live_quality.threshold("rmse", ci95, 400, 61.0, None)
    few_rows = live_quality.threshold("rmse", ci95, 400, 61.0, 100)
    assert exact == pytest.approx(63.0, abs=0.01)  # the live interval's half-width alone
    assert few_rows == pytest.approx(61.0 + 2.0 * 5**0.5, abs=0.01)
    assert live_quality.threshold("r2", (0.3, 0.4), 400, 0.5, 100) < 0.5 - 0.05


def test_intervals_are_seeded():
    labels, predictions = live(300, seed=4)
    assert live_quality.intervals(labels, predictions) == live_quality.intervals(
        labels, predictions
    )


def test_rows_are_parsed_and_bad_ones_named():
    row = {
        "request_id": "r",
        "index": 0,
        "label": 151.0,
        "prediction": 140.5,
        "model": "m",
        "version": 2,
        "label_time": "2026-12-05T21:00:04.512Z",
    }
    parsed = parse_row(orjson.dumps(row))
    assert (parsed.model, parsed.version, parsed.label, parsed.prediction) == ("m", 2, 151, 140.5)
    assert parsed.label_time.utcoffset() is not None
    for broken in (
        b"not json",
        orjson.dumps({**row, "label": None}),
        orjson.dumps({**row, "label_time": "2026-12-05T21:00:04"}),
        orjson.dumps({key: value for key, value in row.items() if key != "prediction"}),
    ):
        with pytest.raises(InvalidRow):
            parse_row(broken)
