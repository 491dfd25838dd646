"""`mlctl rollout`: send a share of a model's traffic to a version, then promote or abort
(docs/rollout.md)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from google.cloud import pubsub_v1

from functions.platform.config import Settings
from model.labelled import labelled_rows
from model.model_events import ROLLOUT_ABORTED, ROLLOUT_PROMOTED, ModelEvent
from model.registry import Registry
from model.rollout import (
    RolloutError,
    abort_rollout,
    promote_rollout,
    read_rollout,
    start_rollout,
)
from model.rollout_judgement import judge
from model.training_settings import read_settings

PUBLISH_TIMEOUT = 30.0


def add_command(commands: Any, settings: Settings) -> argparse.ArgumentParser:
    rollout: argparse.ArgumentParser = commands.add_parser(
        "rollout",
        help="send a share of unpinned requests to a version; --status, --promote, --abort",
    )
    action = rollout.add_mutually_exclusive_group(required=True)
    action.add_argument("--version", type=int, help="the candidate version")
    action.add_argument("--status", action="store_true", help="show the split")
    action.add_argument(
        "--promote", action="store_true", help=f"make the candidate {settings.serving_alias}"
    )
    action.add_argument("--abort", action="store_true", help="end the split")
    action.add_argument(
        "--auto",
        action="store_true",
        help="judge the candidate on its labelled traffic: promote or abort when sure",
    )
    rollout.add_argument("--percent", type=float, help="with --version: its share, 0 < P < 100")
    return rollout


def run(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    alias = Settings.from_env().serving_alias
    if args.version is not None:
        if args.percent is None:
            raise ValueError("--version needs --percent")
        rollout = start_rollout(registry, args.model, args.version, args.percent, alias)
        return {"model": args.model, "rollout": rollout.to_document()}
    if args.percent is not None:
        raise ValueError("--percent goes with --version")
    if args.promote:
        moved = promote_rollout(registry, args.model, alias)
        return {"model": args.model, "rollout": None, "alias": moved.name, **moved.document}
    if args.abort:
        ended = abort_rollout(registry, args.model)
        return {"model": args.model, "rollout": None, "aborted": ended.to_document()}
    if args.auto:
        return _auto(registry, args.model, alias)
    current = read_rollout(registry, args.model)
    production = registry.alias(args.model, alias)
    return {
        "model": args.model,
        alias: production.version if production else None,
        "rollout": current.to_document() if current else None,
    }


def _auto(registry: Registry, model: str, alias: str) -> dict[str, Any]:
    """Both versions on the rollout's labelled rows (model/rollout_judgement.py); a decision
    ends the rollout and is published on model-events with its reasons."""
    rollout = read_rollout(registry, model)
    production = registry.alias(model, alias)
    if rollout is None or production is None:
        raise RolloutError(f"model {model!r} has no rollout under way beside {alias}")
    started = datetime.fromisoformat(rollout.started_at)
    versions = {rollout.version, production.version}
    stored, unreadable = labelled_rows(registry.bucket, model, started, datetime.now(UTC))
    rows = [
        row
        for row in stored
        if row["version"] in versions and datetime.fromisoformat(row["request_time"]) >= started
    ]
    candidate, serving = (registry.load(model, v) for v in (rollout.version, production.version))
    gate = read_settings(registry, model).gate(seed=0)
    judgement = judge(rows, candidate, serving, gate)
    result: dict[str, Any] = {
        "model": model,
        "judgement": judgement.as_dict(),
        "unreadable_rows": unreadable,
        "event": None,
    }
    if judgement.decision == "wait":
        return result | {"rollout": rollout.to_document()}
    if judgement.decision == "promote":
        promote_rollout(registry, model, alias)
        kind, now_serving = ROLLOUT_PROMOTED, rollout.version
    else:
        abort_rollout(registry, model)
        kind, now_serving = ROLLOUT_ABORTED, production.version
    event = ModelEvent(
        event=kind,
        model=model,
        version=rollout.version,
        production_version=now_serving,
        dataset=f"gs://{registry.bucket_name}/labelled/{model}/ (labelled since {started})",
        metrics={
            "candidate": {"rmse": judgement.candidate_rmse or 0.0},
            "production": {"rmse": judgement.production_rmse or 0.0},
        },
        reasons=judgement.reasons,
        rollout_ended=rollout.to_document(),
    )
    _publish(event)
    return result | {"rollout": None, "event": event.data()}


def _publish(event: ModelEvent) -> None:
    settings = Settings.from_env()
    publisher = pubsub_v1.PublisherClient()
    try:
        topic = publisher.topic_path(settings.project_id, settings.model_events_topic)
        data = json.dumps(event.data()).encode()
        publisher.publish(topic, data, **event.attributes()).result(timeout=PUBLISH_TIMEOUT)
    finally:
        publisher.stop()
