"""`python -m mlctl`: the registry and the training loop from a terminal. Commands print JSON;
the reports a person reads (`describe`, `leaderboard`, `drift`, `performance`) print tables,
and their JSON with `--json`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Literal

from google.api_core.exceptions import GoogleAPIError
from google.auth.exceptions import GoogleAuthError

from functions.platform.config import Settings
from infra import names
from mlctl import feedback, messaging, monitoring, retraining, rollout, score, tables
from model.continuous_training import upload_of
from model.dataset import (
    DEFAULT_FEATURES,
    DIABETES_FEATURES,
    TARGET,
    DatasetError,
    load_diabetes,
    to_csv,
)
from model.drifting_data import DAY, DEFAULT_DAYS, DEFAULT_ROWS_PER_DAY, drifting_data
from model.evaluation import CvScheme
from model.families import FAMILIES, FamilyError, parse_params
from model.gcs import storage_client
from model.leaderboard import entries
from model.promotion import read_production, train_register_promote
from model.registry import Registry, RegistryError
from model.search import DEFAULT_BUDGET, DEFAULT_TIME_BUDGET, SearchSettings, parse_families
from model.training import DEFAULT_TEST_FRACTION, Protocol
from model.training_settings import (
    DEFAULT_WINDOW_DAYS,
    TRIGGERS,
    RetrainingPolicy,
    TrainingSettings,
    read_settings,
    write_settings,
)
from model.validation import Schema, validate_csv


def build_parser() -> argparse.ArgumentParser:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m mlctl",
        description="Train models and manage the model registry on Cloud Storage "
        "(the emulator when STORAGE_EMULATOR_HOST is set).",
    )
    parser.add_argument("--bucket", default=settings.bucket, help="registry bucket (%(default)s)")
    parser.add_argument("--model", default=settings.model_name, help="model name (%(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train", help="train, register a new version, promote if it passes the gate"
    )
    source = train.add_mutually_exclusive_group()
    source.add_argument("--csv", type=Path, help="CSV with feature columns and 'target'")
    source.add_argument(
        "--features",
        help="diabetes columns to train on, comma-separated (default: the model's "
        f"training settings, else {','.join(DEFAULT_FEATURES)})",
    )
    split = train.add_mutually_exclusive_group()
    split.add_argument(
        "--test-fraction",
        type=float,
        default=DEFAULT_TEST_FRACTION,
        help="seeded share of the rows held out as the test split (%(default)s)",
    )
    split.add_argument("--holdout", type=int, help="the last N rows as the test split instead")
    train.add_argument("--cv", default="5x5", help="cross-validation, FOLDSxREPEATS (%(default)s)")
    train.add_argument(
        "--search", action="store_true", help="search families and parameters by cross-validation"
    )
    train.add_argument("--families", help="the families a search explores (all), comma-separated")
    train.add_argument(
        "--budget", type=int, default=DEFAULT_BUDGET, help="candidates a search tries (%(default)s)"
    )
    train.add_argument(
        "--time-budget",
        type=float,
        default=DEFAULT_TIME_BUDGET,
        help="seconds a search may take (%(default)s)",
    )
    train.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    _add_family_arguments(train, "default: the model's training settings, else linear")
    train.add_argument("--no-promote", action="store_true", help="register only, never promote")
    _accept_model_after(train)

    settings_command = commands.add_parser(
        "settings",
        help="show the model's training settings, or change them (compare-and-swap)",
    )
    _add_family_arguments(settings_command, "a new family starts from no parameters")
    settings_command.add_argument(
        "--features", help="diabetes columns mlctl train takes, comma-separated"
    )
    settings_command.add_argument(
        "--confidence", type=float, help="how sure the gate must be that a candidate is better"
    )
    settings_command.add_argument("--min-r2", type=float, help="a minimum test R² (none)")
    settings_command.add_argument(
        "--search",
        metavar="FAMILIES",
        help="retrain searches these families (comma-separated, or 'all'); 'off' stops it",
    )
    settings_command.add_argument(
        "--search-budget", type=int, help=f"candidates per search ({DEFAULT_BUDGET})"
    )
    settings_command.add_argument(
        "--feedback",
        choices=("on", "off"),
        help="whether the model takes labels: the prediction log keeps every instance",
    )
    settings_command.add_argument(
        "--retrain-on",
        metavar="TRIGGERS",
        help=f"retrain on labelled rows on these ({','.join(TRIGGERS)}); 'off' stops it",
    )
    settings_command.add_argument(
        "--retrain-window-days", type=int, help="days of labelled rows a retraining takes (30)"
    )
    settings_command.add_argument(
        "--retrain-with-training-data",
        choices=("on", "off"),
        help="add the production version's training rows to the labelled ones",
    )
    _accept_model_after(settings_command)

    upload = commands.add_parser(
        "upload", help=f"upload a CSV to {names.incoming_prefix('<model>')}: retrain takes it"
    )
    upload.add_argument("file", type=Path, help="CSV with the model's features and 'target'")
    _accept_model_after(upload)

    export = commands.add_parser(
        "export",
        help="write bundled diabetes columns as a CSV to upload (features + target), or "
        "with --drifting a synthetic time-stamped one whose target drifts",
    )
    export.add_argument("--out", type=Path, required=True, help="file to write")
    export.add_argument(
        "--features",
        help=f"diabetes columns ({','.join(DEFAULT_FEATURES)}; with --drifting all ten)",
    )
    export.add_argument(
        "--drifting",
        type=float,
        metavar="RATE",
        help=f"synthetic rows, a '{DAY}' column first, whose true coefficients rotate by RATE "
        "radians a day (docs/retraining.md)",
    )
    export.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="with --drifting: days (%(default)s)"
    )
    export.add_argument(
        "--rows-per-day",
        type=int,
        default=DEFAULT_ROWS_PER_DAY,
        help="with --drifting: rows a day (%(default)s)",
    )
    export.add_argument("--seed", type=int, default=0, help="with --drifting (%(default)s)")

    listing = commands.add_parser(
        "list", help="versions with their metrics, gate decision and the aliases"
    )
    _accept_model_after(listing)
    commands.add_parser("models", help="registered model names")
    describe = commands.add_parser("describe", help="a version's artifact summary and report")
    describe.add_argument("version", type=int)
    describe.add_argument("--json", action="store_true", help="print the JSON instead")
    leaderboard = commands.add_parser(
        "leaderboard", help="a version's search candidates, best first (else its one model)"
    )
    leaderboard.add_argument(
        "version", type=int, nargs="?", help=f"(the {settings.serving_alias} alias's version)"
    )
    leaderboard.add_argument("--json", action="store_true", help="print the JSON instead")
    promote = commands.add_parser("promote", help="point an alias at a version (compare-and-swap)")
    promote.add_argument("version", type=int)
    promote.add_argument("--alias", default=settings.serving_alias)
    rollback = commands.add_parser("rollback", help="point an alias back at its previous version")
    rollback.add_argument("--to", type=int, dest="to_version", help="a specific version instead")
    rollback.add_argument("--alias", default=settings.serving_alias)
    for command in (
        describe,
        leaderboard,
        promote,
        rollback,
        rollout.add_command(commands, settings),
        feedback.add_command(commands, settings),
        score.add_command(commands, settings),
    ):
        _accept_model_after(command)
    retraining.add_command(commands)
    messaging.add_commands(commands, settings)
    monitoring.add_commands(commands, settings)
    return parser


def _accept_model_after(command: argparse.ArgumentParser) -> None:
    """SUPPRESS: `mlctl --model X cmd` and `mlctl cmd --model X` both work."""
    command.add_argument("--model", default=argparse.SUPPRESS, help="model name")


def _add_family_arguments(command: argparse.ArgumentParser, family_default: str) -> None:
    command.add_argument("--family", help=f"one of {', '.join(FAMILIES)} ({family_default})")
    command.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="an estimator parameter by scikit-learn's name; repeat for more",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("results", "events"):
            return messaging.results(args)
        if args.command in MONITORING:
            return MONITORING[args.command](args)
        if args.command == "publish":
            result = messaging.publish(args)
        elif args.command in WITHOUT_REGISTRY:  # they open it themselves, if they need it
            result = WITHOUT_REGISTRY[args.command](args)
        else:
            registry = Registry(storage_client(Settings.from_env().project_id), args.bucket)
            result = COMMANDS[args.command](registry, args)
    except FamilyError as error:  # a usage error, like argparse's own: nothing was done
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (
        DatasetError,
        RegistryError,
        ValueError,
        OSError,
        GoogleAPIError,
        GoogleAuthError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command in TABLES and not args.json:
        print(TABLES[args.command](result))
    else:
        print(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def _train(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    settings = read_settings(registry, args.model)
    requested = settings.changed(args.family, _params(args))
    validation = production = None
    if args.csv:
        # The same validation as an upload's: the production version's features and reference,
        # and the same version the gate then compares with.
        production = read_production(registry, args.model)
        rules = Settings.from_env().retrain_settings().rules
        dataset, validation = validate_csv(
            args.csv.read_bytes(), Schema.of(production.model), rules
        )
    else:
        features = _features(args.features) or settings.features or DEFAULT_FEATURES
        dataset = load_diabetes(features)
    spec = requested.spec(args.seed).checked()
    protocol = Protocol(args.test_fraction, args.holdout, CvScheme.parse(args.cv))
    search = None
    if args.search:
        families = parse_families(args.families)
        search = SearchSettings(families, args.budget, args.time_budget, protocol.cv).checked()
    outcome = train_register_promote(
        registry,
        dataset,
        args.model,
        spec,
        protocol,
        promote=not args.no_promote,
        validation=validation,
        production=production,
        gate=settings.gate(args.seed),
        search=search,
    )
    return outcome.as_dict()


def _params(args: argparse.Namespace) -> dict[str, Any] | None:
    return None if args.param is None else parse_params(args.param)


def _features(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(name.strip() for name in text.split(","))


def _settings(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    """Show the settings, or change what is given by compare-and-swap."""
    current = read_settings(registry, args.model)
    features = _features(args.features)
    gate = (args.confidence, args.min_r2)
    search = _search_setting(args.search, args.search_budget, current)
    feedback = None if args.feedback is None else args.feedback == "on"
    retraining = _retraining_setting(args, current)
    unchanged = (args.family, args.param, features, search, feedback, retraining) == (None,) * 6
    if unchanged and gate == (None, None):
        return _settings_shown(args.model, current)
    if features is not None:
        load_diabetes(features)  # names a column the bundled data lacks
    changed = current.changed(
        args.family,
        _params(args),
        features,
        *gate,
        search=search,
        feedback=feedback,
        retraining=retraining,
    )
    return _settings_shown(args.model, write_settings(registry, args.model, changed))


def _retraining_setting(
    args: argparse.Namespace, current: TrainingSettings
) -> RetrainingPolicy | Literal[False] | None:
    """The retraining setting asked for: False to turn it off, None to leave it as it is."""
    given = (args.retrain_on, args.retrain_window_days, args.retrain_with_training_data)
    if given == (None, None, None):
        return None
    if args.retrain_on == "off":
        return False
    base = current.retraining
    if args.retrain_on is not None:
        triggers = tuple(name.strip() for name in args.retrain_on.split(",") if name.strip())
    elif base is not None:
        triggers = base.triggers
    else:
        raise ValueError("give --retrain-on too: which triggers start a retraining")
    window = args.retrain_window_days or (base.window_days if base else DEFAULT_WINDOW_DAYS)
    with_data = (
        args.retrain_with_training_data == "on"
        if args.retrain_with_training_data is not None
        else bool(base and base.with_training_data)
    )
    return RetrainingPolicy(triggers, window, with_data).checked()


def _search_setting(
    families: str | None, budget: int | None, current: TrainingSettings
) -> dict[str, Any] | None:
    """The search setting asked for: {} to turn it off, None to leave it as it is."""
    if families is None and budget is None:
        return None
    if families == "off":
        return {}
    search = dict(current.search or {})
    if families is not None:
        search["families"] = None if families == "all" else list(parse_families(families))
    if budget is not None:
        search["budget"] = budget
    return search


def _settings_shown(model: str, settings: TrainingSettings) -> dict[str, Any]:
    return {"model": model, **settings.to_document(), "generation": settings.generation}


def _upload(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    """Upload to incoming/: the bucket's notification starts retrain."""
    data = args.file.read_bytes()
    name = names.incoming_prefix(args.model) + args.file.name
    checked = upload_of(registry.bucket_name, name, 0)  # what retrain would make of it
    if isinstance(checked, str):
        raise ValueError(f"retrain would ignore this upload: {checked}")
    blob = registry.bucket.blob(name)
    blob.upload_from_string(data, content_type="text/csv")
    upload = dataclasses.replace(checked, generation=int(blob.generation))
    return {"uri": upload.uri, "generation": upload.generation, "dataset": upload.dataset}


def _export(args: argparse.Namespace) -> dict[str, Any]:
    features = _features(args.features)
    if args.drifting is not None:
        drifting = drifting_data(
            features or DIABETES_FEATURES, args.drifting, args.days, args.rows_per_day, args.seed
        )
        args.out.write_text(drifting.to_csv())
        columns = [DAY, *drifting.features, TARGET]
        return {"file": str(args.out), "rows": int(drifting.y.size), "columns": columns}
    dataset = load_diabetes(features or DEFAULT_FEATURES)
    args.out.write_text(to_csv(dataset))
    return {"file": str(args.out), "rows": dataset.rows, "columns": [*dataset.features, TARGET]}


def _list(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    versions = []
    for version in registry.versions(args.model):
        model = registry.load(args.model, version)
        versions.append(
            {
                "version": version,
                "features": list(model.features),
                "r2": model.metrics.get("r2"),
                "created_at": model.lineage.get("created_at"),
                "dataset": model.lineage.get("dataset"),
                **_gate(registry.report_if_any(args.model, version)),
            }
        )
    return {"model": args.model, "versions": versions, "aliases": registry.aliases(args.model)}


def _models(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    return {"models": registry.models()}


def _describe(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    model = registry.load(args.model, args.version)
    return {
        "model": model.name,
        "version": model.version,
        "features": list(model.features),
        "family": model.family,
        "params": model.params,
        "format": model.format,
        "libraries": model.libraries,
        **{key: value for key, value in model.predictor.manifest().items() if key != "files"},
        "metrics": model.metrics,
        "lineage": model.lineage,
        **_gate(report := registry.report_if_any(args.model, args.version)),
        "report": report,
    }


def _leaderboard(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    version = args.version
    if version is None:
        alias = Settings.from_env().serving_alias
        current = registry.alias(args.model, alias)
        if current is None:
            raise RegistryError(f"model {args.model!r} has no {alias!r} alias: name a version")
        version = current.version
    report = registry.report(args.model, version)
    evaluation = report.get("evaluation") or {}
    cv = evaluation.get("cv")
    return {
        "model": args.model,
        "version": version,
        "cv": f"{cv['folds']}x{cv['repeats']}" if cv else None,
        "search": evaluation.get("search"),
        "leaderboard": entries(report),
    }


def _gate(report: dict[str, Any] | None) -> dict[str, Any]:
    """The gate's decision and reasons as the version's report records them."""
    if report is None:
        return {"gate": "pending", "gate_reasons": []}
    gate = report.get("gate") or {}
    decision = gate.get("decision") or ("passed" if gate.get("promote") else "rejected")
    return {"gate": decision, "gate_reasons": gate.get("reasons", [])}


def _promote(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    alias = registry.promote(args.model, args.version, args.alias, reason="promoted by hand")
    return {"model": args.model, "alias": alias.name, **alias.document}


def _rollback(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    alias = registry.rollback(args.model, args.alias, args.to_version)
    return {"model": args.model, "alias": alias.name, **alias.document}


MONITORING = {
    "drift": monitoring.drift,
    "performance": monitoring.performance,
    "alerts": monitoring.alerts,
}
TABLES = {
    "describe": tables.describe,
    "leaderboard": tables.leaderboard,
    "feedback": tables.feedback_status,
    retraining.COMMAND: retraining.table,
}
WITHOUT_REGISTRY = {"export": _export, retraining.COMMAND: retraining.run}
COMMANDS = {
    "train": _train,
    "settings": _settings,
    "upload": _upload,
    "list": _list,
    "models": _models,
    "describe": _describe,
    "leaderboard": _leaderboard,
    "promote": _promote,
    "rollback": _rollback,
    "rollout": rollout.run,
    "feedback": feedback.run,
    "score": score.run,
}
