"""`mlctl rollout`: send a share of a model's traffic to a version, then promote or abort
(docs/rollout.md)."""

from __future__ import annotations

import argparse
from typing import Any

from functions.platform.config import Settings
from model.registry import Registry
from model.rollout import abort_rollout, promote_rollout, read_rollout, start_rollout


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
    current = read_rollout(registry, args.model)
    production = registry.alias(args.model, alias)
    return {
        "model": args.model,
        alias: production.version if production else None,
        "rollout": current.to_document() if current else None,
    }
