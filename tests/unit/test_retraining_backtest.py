"""How often to retrain (docs/retraining.md): the backtest on synthetic rows whose drift rate
is known, its time column in either form, its errors, `mlctl assess-retraining`'s JSON and
`mlctl export --drifting`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from mlctl.cli import main
from model.dataset import DIABETES_FEATURES, DatasetError
from model.drifting_data import drifting_data
from model.estimator import TrainingSpec
from model.retraining_backtest import DEFAULT_INTERVALS, Backtest, BacktestSettings, backtest
from model.retraining_schedule import schedule
from model.timed_rows import DAYS, ISO_8601, read_timed_csv

# 150 days of 12 rows: a 30-day window leaves 120 days scored, room for 60-day intervals.
DAYS_OF_DATA, ROWS_PER_DAY = 150, 12
START = datetime(2026, 1, 1, tzinfo=UTC)


def drifting_csv(rate: float) -> str:
    return drifting_data(DIABETES_FEATURES, rate, DAYS_OF_DATA, ROWS_PER_DAY, seed=0).to_csv()


@cache
def assessed(rate: float) -> Backtest:
    return backtest(read_timed_csv(drifting_csv(rate).encode(), "day"), TrainingSpec())


def as_iso(csv_text: str) -> str:
    """The same rows with each day as ISO 8601 times on that day, in the same order: a day's
    first row a date, the others timestamps with and without an offset."""
    header, *lines = csv_text.splitlines()
    iso = []
    for i, line in enumerate(lines):
        day, _, rest = line.partition(",")
        moment = START + timedelta(days=int(day), hours=i % ROWS_PER_DAY, minutes=i % 7)
        text = moment.isoformat() if i % 2 else moment.strftime("%Y-%m-%dT%H:%M:%S")
        iso.append(f"{moment.date().isoformat() if i % ROWS_PER_DAY == 0 else text},{rest}")
    return "\n".join([header, *iso]) + "\n"


def test_faster_drift_shortens_the_recommended_interval():
    recommended = [assessed(rate).recommended_interval_days for rate in (0.0, 0.01, 0.05)]
    assert recommended[0] >= recommended[1] >= recommended[2]
    assert recommended[0] > recommended[2]


def test_without_drift_the_longest_interval_is_recommended():
    result = assessed(0.0)
    # The longest default that fits twice into the 120 days scored after the 30-day window.
    assert result.recommended_interval_days == 60
    assert result.dropped_intervals == (90,)
    assert [interval.interval_days for interval in result.intervals] == [*DEFAULT_INTERVALS[:-1]]
    assert all(interval.within_tolerance for interval in result.intervals)


def test_under_drift_error_grows_with_the_models_age():
    curve = assessed(0.05).curve
    assert [point.age_days for point in curve] == list(range(60))
    assert curve[-1].rmse > 1.5 * curve[0].rmse
    assert all(low <= point.rmse <= high for point in curve for low, high in [point.ci95])
    ratios = [interval.rmse_ratio for interval in assessed(0.05).intervals]
    assert ratios == sorted(ratios)


def test_day_numbers_and_iso_times_give_the_same_backtest():
    by_day = read_timed_csv(drifting_csv(0.01).encode(), "day")
    by_date = read_timed_csv(as_iso(drifting_csv(0.01)).encode(), "day")
    assert (by_day.time_format, by_date.time_format) == (DAYS, ISO_8601)
    day, date = (backtest(rows, TrainingSpec()).as_dict() for rows in (by_day, by_date))
    assert (date["first_day"], date["last_day"]) == ("2026-01-01", "2026-05-30")
    for result in (day, date):
        del result["time_format"], result["first_day"], result["last_day"]
    assert day == date


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("x,target\n1,2\n", "no time column 'day'"),
        ("day,x,target\n0,1,2\n1,1,2\nsoon,1,2\n", "line 4: time 'soon' is not a number of days"),
        (
            "day,x,target\n2026-01-01,1,2\n2026-13-01,1,2\n",
            "line 3: time '2026-13-01' is not an ISO 8601 date or time",
        ),
        ("day,x,target\n2026-01-01,1,2\n3,1,2\n", "line 3: time '3' is not an ISO 8601"),
        ("day,x,target\n0,1,2\n1,one,2\n", "line 3: x 'one' is not a finite number"),
    ],
)
def test_a_missing_or_unreadable_time_is_an_error_naming_the_row(csv_text, message):
    with pytest.raises(DatasetError, match=message):
        read_timed_csv(csv_text.encode(), "day")


def test_too_few_days_for_the_window_is_an_error():
    rows = read_timed_csv(drifting_data(("bmi", "s5"), 0.0, 20, 3).to_csv().encode(), "day")
    with pytest.raises(DatasetError, match="span 20 days: the 30-day window"):
        backtest(rows, TrainingSpec())
    with pytest.raises(DatasetError, match="hold 3 rows, fewer than 4"):
        backtest(rows, TrainingSpec(), BacktestSettings(window_days=1, intervals=(1,)))


def test_assess_retraining_prints_json_and_draws_the_plot(tmp_path, capsys):
    data, plot = tmp_path / "drifting.csv", tmp_path / "retraining.png"
    assert main(["export", "--drifting", "0.05", "--days", "60", "--out", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 60 * 20
    argv = ["assess-retraining", "--csv", str(data), "--time-column", "day", "--family", "linear"]
    options = ["--window", "14", "--intervals", "1,3,7,30", "--tolerance", "0.1"]
    assert main([*argv, *options, "--json", "--plot", str(plot)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert result["recommended_interval_days"] in (1, 3, 7)
    assert result["dropped_intervals"] == [30]
    assert [interval["interval_days"] for interval in result["intervals"]] == [1, 3, 7]
    assert set(result["intervals"][0]) >= {"interval_days", "rmse", "mae", "within_tolerance"}
    point = result["curve"][0]
    assert set(point) >= {"age_days", "rmse", "ci95", "n"}
    assert (point["age_days"], len(point["ci95"]), point["n"]) == (0, 2, 60 - 14)
    assert result["schedule"]["terraform"].startswith('retraining_schedule = "0 3 ')
    assert result["time_format"] == "days"

    assert main([*argv, *options]) == 0
    table = capsys.readouterr().out
    assert "read as day numbers" in table
    assert "infra/terraform: retraining_schedule" in table


def test_assess_retraining_without_the_time_column_says_which(tmp_path, capsys):
    data = tmp_path / "plain.csv"
    data.write_text("x,target\n1,2\n")
    argv = ["assess-retraining", "--csv", str(data), "--family", "linear"]
    assert main([*argv, "--time-column", "when"]) == 1
    assert "no time column 'when'" in capsys.readouterr().err
    assert main(argv) == 1
    assert "--csv needs --time-column" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("days", "cron", "exact"),
    [
        (1, "0 3 * * *", True),
        (3, "0 3 */3 * *", False),
        (7, "0 3 * * 1", True),
        (30, "0 3 1 * *", False),
        (60, "0 3 1 */2 *", False),
        (400, "0 3 1 1 *", False),
    ],
)
def test_an_interval_becomes_a_cloud_scheduler_cron(days, cron, exact):
    assert (schedule(days).cron, schedule(days).exact) == (cron, exact)


def test_drifting_data_is_seeded_and_rotates_at_its_rate():
    first, again = (drifting_data(("bmi", "s5"), 0.1, 3, 4, seed=7) for _ in range(2))
    assert first.to_csv() == again.to_csv()
    with pytest.raises(DatasetError, match="at least 2 features"):
        drifting_data(("bmi",), 0.1)
