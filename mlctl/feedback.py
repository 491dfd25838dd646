"""`mlctl feedback`: send labels from a CSV, or count what the join made of them
(docs/feedback.md)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import orjson
from google.cloud import pubsub_v1

from functions.platform.config import Settings
from model.feedback import FeedbackError, FeedbackStore, parse_feedback
from model.registry import Registry

PUBLISH_TIMEOUT_SECONDS = 60.0


def add_command(commands: Any, settings: Settings) -> argparse.ArgumentParser:
    feedback: argparse.ArgumentParser = commands.add_parser(
        "feedback",
        help="send labels from a CSV (request_id, index, label), or --status of the join",
    )
    feedback.add_argument("file", nargs="?", type=Path, help="CSV with request_id, index, label")
    feedback.add_argument(
        "--status", action="store_true", help="joined, pending and unjoinable counts"
    )
    feedback.add_argument("--topic", default=settings.feedback_topic, help="(%(default)s)")
    feedback.add_argument("--json", action="store_true", help="print the JSON instead")
    return feedback


def run(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    if args.status == (args.file is not None):
        raise ValueError("give a CSV file of labels, or --status")
    if args.status:
        store = FeedbackStore(registry.bucket.client, registry.bucket_name, timeout=30.0)
        try:
            return store.status().to_document()
        finally:
            store.close()
    return _send(_read_labels(args.file), args.topic)


def _read_labels(path: Path) -> list[dict[str, Any]]:
    """Every row as a feedback message, all checked first: one bad row sends nothing."""
    messages = []
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        missing = {"request_id", "index", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: the header lacks {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                message = {
                    "request_id": row["request_id"],
                    "index": _whole(row["index"]),
                    "label": float(row["label"]),
                }
                parse_feedback(message, max_labels=1)
            except (ValueError, FeedbackError) as error:
                raise ValueError(f"{path}, line {line}: {error}") from None
            messages.append(message)
    if not messages:
        raise ValueError(f"{path}: no labels")
    return messages


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"index {text!r} is not a whole number") from None


def _send(messages: list[dict[str, Any]], topic: str) -> dict[str, Any]:
    publisher = pubsub_v1.PublisherClient()
    topic_path = publisher.topic_path(Settings.from_env().project_id, topic)
    try:
        futures = [
            publisher.publish(
                topic_path, orjson.dumps(message), request_id=str(message["request_id"])
            )
            for message in messages
        ]
        for future in futures:
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
    finally:
        publisher.stop()
    return {"published": len(messages), "topic": topic}
