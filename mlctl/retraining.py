"""`mlctl assess-retraining`: how often to retrain, from a backtest over time-stamped rows of a
CSV or over the model's labelled rows (docs/retraining.md)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from functions.platform.config import Settings
from mlctl.tables import columns
from model.families import DEFAULT_FAMILY, parse_params
from model.gcs import storage_client
from model.labelled_rows import read_labelled
from model.registry import Registry
from model.retraining_backtest import (
    DEFAULT_INTERVALS,
    DEFAULT_TOLERANCE,
    DEFAULT_WINDOW_DAYS,
    BacktestSettings,
    backtest,
)
from model.retraining_plot import retraining_png
from model.retraining_schedule import schedule
from model.timed_rows import TimedRows, read_timed_csv
from model.training_settings import TrainingSettings, read_settings

COMMAND = "assess-retraining"
CURVE_ROWS = 20


def add_command(commands: Any) -> argparse.ArgumentParser:
    assess: argparse.ArgumentParser = commands.add_parser(
        COMMAND,
        help="backtest retraining intervals on time-stamped rows; recommend the longest that "
        "stays within a tolerance of always-fresh models",
    )
    source = assess.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="CSV with a time column, features and 'target'")
    source.add_argument(
        "--labelled", action="store_true", help="the model's labelled rows in the registry"
    )
    assess.add_argument("--time-column", help="the CSV's time column: days, or ISO 8601 times")
    assess.add_argument(
        "--features", help="columns to train on, comma-separated (the model's, else the CSV's)"
    )
    assess.add_argument(
        "--family",
        help=f"(the model's training settings, else {DEFAULT_FAMILY}); given, with --csv, "
        "the registry is not read",
    )
    assess.add_argument("--param", action="append", metavar="KEY=VALUE", help="a parameter")
    assess.add_argument(
        "--intervals",
        default=",".join(map(str, DEFAULT_INTERVALS)),
        help="candidate days between retrainings, comma-separated (%(default)s)",
    )
    assess.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW_DAYS,
        help="days of rows each model is fitted on, before its retraining (%(default)s)",
    )
    assess.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="RMSE may exceed always-fresh models' by this share (%(default)s)",
    )
    assess.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    assess.add_argument("--plot", type=Path, help="write error by model age as a PNG here")
    assess.add_argument("--json", action="store_true", help="print the JSON instead")
    assess.add_argument("--model", default=argparse.SUPPRESS, help="model name")
    return assess


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The backtest's result; the registry is opened only when it is needed."""
    if args.csv and not args.time_column:
        raise ValueError("--csv needs --time-column: the column holding each row's time")
    registry = None if args.csv and args.family else _registry(args.bucket)
    settings = read_settings(registry, args.model) if registry else TrainingSettings()
    features = _features(args.features) or settings.features
    rows, left_out = _rows(args, registry, features)
    params = parse_params(args.param) if args.param else None
    spec = settings.changed(args.family, params).spec(args.seed).checked()
    chosen = BacktestSettings(_intervals(args.intervals), args.window, args.tolerance)
    result = backtest(rows, spec, chosen)
    document = {
        "model": args.model,
        "source": str(args.csv) if args.csv else f"labelled/{args.model}/",
        "time_column": args.time_column if args.csv else "label_time",
        "rows_left_out": left_out,
        **result.as_dict(),
        "schedule": schedule(result.recommended_interval_days).as_dict(),
    }
    if args.plot:
        title = f"{args.model}: retraining backtest of {spec.family} ({document['source']})"
        args.plot.write_bytes(retraining_png(result, title))
        document["plot"] = str(args.plot)
    return document


def _registry(bucket: str) -> Registry:
    return Registry(storage_client(Settings.from_env().project_id), bucket)


def _features(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(name.strip() for name in text.split(","))


def _rows(
    args: argparse.Namespace, registry: Registry | None, features: tuple[str, ...] | None
) -> tuple[TimedRows, int]:
    if args.csv or registry is None:  # no registry: a CSV with --family
        return read_timed_csv(args.csv.read_bytes(), args.time_column, features), 0
    return read_labelled(registry.bucket.client, registry.bucket_name, args.model, features)


def _intervals(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"--intervals {text!r}: whole days, comma-separated, like 1,7,30"
        ) from None


def table(result: Mapping[str, Any]) -> str:
    """The backtest as a person reads it: what was read, the intervals, the curve, the advice."""
    recommended = result["recommended_interval_days"]
    lines = [
        f"model {result['model']}: {result['family']} on {', '.join(result['features'])}; "
        f"{result['rows']} rows of {result['source']}",
        f"time column {result['time_column']!r} read as {_format(result['time_format'])}, "
        f"days {result['first_day']} to {result['last_day']}; each model fitted on the "
        f"{result['window_days']} days before its retraining, {result['evaluated_days']} days "
        "scored",
    ]
    if result["rows_left_out"]:
        lines.append(f"{result['rows_left_out']} labelled rows left out: other features")
    if result["dropped_intervals"]:
        dropped = ", ".join(map(str, result["dropped_intervals"]))
        lines.append(f"intervals left out, fewer than 2 retrainings in the scored days: {dropped}")
    lines += ["", columns(_interval_rows(result))]
    lines += ["", "error by model age (days since its retraining)", columns(_curve_rows(result))]
    plan = schedule(recommended)
    lines += [
        "",
        f"recommended: retrain every {_days(recommended)}, the longest interval whose RMSE "
        f"(and every shorter one's) is within {result['tolerance']:.0%} of retraining every "
        f"{_days(result['baseline_interval_days'])}",
        f"Cloud Scheduler: {plan.cron}  ({plan.describe()})",
        f"infra/terraform: {plan.terraform}",
    ]
    if result.get("plot"):
        lines.append(f"plot: {result['plot']}")
    return "\n".join(lines)


def _days(count: int) -> str:
    return "day" if count == 1 else f"{count} days"


def _format(time_format: str) -> str:
    return "day numbers" if time_format == "days" else "ISO 8601 dates/times (UTC days)"


def _interval_rows(result: Mapping[str, Any]) -> list[tuple[str, ...]]:
    table: list[tuple[str, ...]] = [
        ("interval days", "retrainings", "RMSE", "MAE", "vs baseline", "within")
    ]
    for interval in result["intervals"]:
        table.append(
            (
                str(interval["interval_days"]),
                str(interval["retrainings"]),
                f"{interval['rmse']:.3f}",
                f"{interval['mae']:.3f}",
                f"{interval['rmse_ratio'] - 1:+.1%}",
                "yes" if interval["within_tolerance"] else "no",
            )
        )
    return table


def _curve_rows(result: Mapping[str, Any]) -> list[tuple[str, ...]]:
    table: list[tuple[str, ...]] = [("age", "RMSE", "95% interval", "MAE", "folds", "rows")]
    curve = result["curve"]
    # A long curve is shown at about CURVE_ROWS ages, its last always: the JSON has them all.
    step = max(1, -(-len(curve) // CURVE_ROWS))
    for point in [*curve[:-1:step], curve[-1]]:
        low, high = point["ci95"]
        table.append(
            (
                str(point["age_days"]),
                f"{point['rmse']:.3f}",
                f"{low:.3f} to {high:.3f}",
                f"{point['mae']:.3f}",
                str(point["n"]),
                str(point["rows"]),
            )
        )
    return table
