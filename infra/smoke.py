"""Smoke test of a deployment: one HTTP prediction, one stream request and its result.

    python -m infra.smoke --project P --url PREDICT_BATCH_URL [--no-auth] [--timeout 120]

Cloud Build runs it after `terraform apply`; the tests run it against the local cloud
(--no-auth, PUBSUB_EMULATOR_HOST set). The HTTP call carries an identity token for the URL:
from the service account or metadata server (google-auth), else from
`gcloud auth print-identity-token`. The stream result is read from a fresh subscription on the
results topic, deleted afterwards, so nobody else's results are consumed. Exits 0 when both
answers are right, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.id_token
from google.cloud import pubsub_v1

from infra import names
from infra.pulling import pull_once

INSTANCES = [[0.05]]


class SmokeFailure(Exception):
    """The deployment answered, but not as it should."""


def identity_token(audience: str) -> str:
    try:
        token: str = google.oauth2.id_token.fetch_id_token(
            google.auth.transport.requests.Request(), audience
        )
        return token
    except google.auth.exceptions.GoogleAuthError:
        # A person's gcloud login cannot mint a token for an audience; gcloud can.
        printed = subprocess.run(
            ["gcloud", "auth", "print-identity-token"],  # noqa: S607 - gcloud from PATH, like deploy
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return printed.stdout.strip()


def call(url: str, token: str | None, body: bytes | None = None) -> dict[str, Any]:
    # S310: url is --url (the deployed function) given by whoever runs the smoke test.
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - as above
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        raise SmokeFailure(f"{url} answered {error.code}: {error.read()[:500]!r}") from None


def check_http(url: str, token: str | None) -> list[float]:
    health = call(f"{url}/health", token)
    if health != {"status": "ok"}:
        raise SmokeFailure(f"{url}/health answered {health}")
    answer = call(f"{url}/predict", token, json.dumps({"instances": INSTANCES}).encode())
    predictions: list[float] = answer.get("predictions", [])
    if len(predictions) != len(INSTANCES):
        raise SmokeFailure(f"POST {url}/predict answered {answer}")
    print(f"http: {answer}")
    return predictions


def check_stream(
    project: str, requests_topic: str, results_topic: str, timeout: float
) -> dict[str, Any]:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        return request_and_result(
            publisher, subscriber, project, requests_topic, results_topic, timeout
        )
    finally:
        # Open gRPC channels would keep the interpreter from exiting.
        publisher.stop()
        publisher.transport.close()
        subscriber.close()


def request_and_result(
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
    project: str,
    requests_topic: str,
    results_topic: str,
    timeout: float,
) -> dict[str, Any]:
    request_id = f"smoke-{uuid.uuid4().hex}"
    subscription = subscriber.subscription_path(project, request_id)
    subscriber.create_subscription(
        name=subscription, topic=publisher.topic_path(project, results_topic)
    )
    try:
        publisher.publish(
            publisher.topic_path(project, requests_topic),
            json.dumps({"instances": INSTANCES}).encode(),
            request_id=request_id,
        ).result(timeout=60)
        result = wait_for_result(subscriber, subscription, request_id, timeout)
    finally:
        subscriber.delete_subscription(subscription=subscription)
    if result.get("status") != "ok":
        raise SmokeFailure(f"stream request {request_id} answered {result}")
    print(f"stream: {result}")
    return result


def wait_for_result(
    subscriber: pubsub_v1.SubscriberClient, subscription: str, request_id: str, timeout: float
) -> dict[str, Any]:
    # The subscription is this check's own: everything on it is acknowledged, ours kept.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in pull_once(subscriber, subscription, max_messages=10):
            if message.attributes.get("request_id") == request_id:
                result: dict[str, Any] = json.loads(message.data)
                return result
    raise SmokeFailure(f"no result for stream request {request_id} within {timeout:.0f} s")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.smoke", description=__doc__)
    parser.add_argument("--project", required=True)
    parser.add_argument("--url", required=True, help="predict_batch's URL (terraform output)")
    parser.add_argument("--requests-topic", default=names.PREDICTION_REQUESTS)
    parser.add_argument("--results-topic", default=names.PREDICTION_RESULTS)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait a result")
    parser.add_argument("--no-auth", action="store_true", help="no identity token (local cloud)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    url = args.url.rstrip("/")
    try:
        token = None if args.no_auth else identity_token(url)
        http = check_http(url, token)
        stream = check_stream(args.project, args.requests_topic, args.results_topic, args.timeout)
    except SmokeFailure as failure:
        print(f"smoke test failed: {failure}", file=sys.stderr)
        return 1
    if stream["predictions"] != http:
        print(f"smoke test failed: stream {stream} differs from http {http}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
