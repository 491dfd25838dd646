"""`publish`, `results` and `events`: the functions' topics from a terminal."""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from google.cloud import pubsub_v1

from functions.platform.config import Settings
from infra import names
from infra.pulling import pull_once, with_request_id

RESULTS_SUBSCRIPTION = names.PREDICTION_RESULTS_SUB
EVENTS_SUBSCRIPTION = names.MODEL_EVENTS_SUB


def add_commands(commands: Any, settings: Settings) -> None:
    publish = commands.add_parser("publish", help="send one prediction request to the stream")
    publish.add_argument(
        "instances",
        help="JSON instances, e.g. '[[0.5],[0.2]]' or '[{\"bmi\": 0.5}]' (or a whole body)",
    )
    publish.add_argument("--request-id", help="correlates the result (default: a new uuid)")
    selector = publish.add_mutually_exclusive_group()
    selector.add_argument("--version", type=int, help="pin a model version")
    selector.add_argument("--alias", help="serve with this alias instead of production")
    publish.add_argument("--ordering-key", help="Pub/Sub ordering key")
    publish.add_argument("--topic", default=names.PREDICTION_REQUESTS, help="(%(default)s)")

    results = commands.add_parser("results", help="pull and print results, following until Ctrl-C")
    results.add_argument("--count", type=int, help="stop after this many results")
    results.add_argument("--request-id", help="only this request's result (others stay queued)")
    results.add_argument("--timeout", type=float, help="stop after this many seconds")
    results.add_argument("--subscription", default=RESULTS_SUBSCRIPTION, help="(%(default)s)")

    events = commands.add_parser(
        "events", help="pull and print model events (promoted, rejected, invalid_data)"
    )
    events.add_argument("--count", type=int, help="stop after this many events")
    events.add_argument("--timeout", type=float, help="stop after this many seconds")
    events.add_argument("--subscription", default=EVENTS_SUBSCRIPTION, help="(%(default)s)")
    events.set_defaults(request_id=None)


def publish(args: argparse.Namespace) -> dict[str, Any]:
    project = Settings.from_env().project_id
    body = json.loads(args.instances)
    if not isinstance(body, dict):
        body = {"instances": body}
    request_id = args.request_id or uuid.uuid4().hex
    attributes = {"request_id": request_id}
    if args.version is not None:
        attributes["version"] = str(args.version)
    if args.alias:
        attributes["alias"] = args.alias
    options = pubsub_v1.types.PublisherOptions(enable_message_ordering=bool(args.ordering_key))
    publisher = pubsub_v1.PublisherClient(publisher_options=options)
    try:
        future = publisher.publish(
            publisher.topic_path(project, args.topic),
            json.dumps(body).encode(),
            ordering_key=args.ordering_key or "",
            **attributes,
        )
        message_id = future.result(timeout=30)
    finally:
        publisher.stop()
    return {"request_id": request_id, "message_id": message_id, "attributes": attributes}


def results(args: argparse.Namespace) -> int:
    """Print each message (a result, an event) as one JSON line; Ctrl-C ends it cleanly."""
    project = Settings.from_env().project_id
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, args.subscription)
    printed = 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while args.count is None or printed < args.count:
            if deadline is not None and time.monotonic() >= deadline:
                break
            for line in _pull_once(subscriber, subscription, args.request_id):
                print(line, flush=True)
                printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        subscriber.close()
    return 0 if args.count is None or printed >= args.count else 1


def _pull_once(
    subscriber: pubsub_v1.SubscriberClient, subscription: str, request_id: str | None
) -> list[str]:
    """One pull's results as JSON lines; another request's results stay queued."""
    keep = with_request_id(request_id) if request_id else None
    lines = []
    for message in pull_once(subscriber, subscription, keep):
        try:
            data: Any = json.loads(message.data)
        except ValueError:
            data = message.data.decode(errors="replace")
        line = {"attributes": dict(message.attributes), "data": data}
        lines.append(json.dumps(line, sort_keys=True, ensure_ascii=False))
    return lines
