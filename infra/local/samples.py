"""The real requests `make run` sends to show the stack works: one over HTTP, one over Pub/Sub."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from infra import names
from infra.http_client import http_get
from infra.local.cloud import LocalCloud
from infra.local.errors import LocalCloudError
from infra.pulling import pull, with_request_id

BATCH_PATH = "/batch/[0.5,0.2,0.6]"  # the legacy URL
STREAM_BODY = {"instances": [[0.5]]}
TIMEOUT = 30.0  # the first request loads the model from storage
RESULTS_SUBSCRIPTION = names.PREDICTION_RESULTS_SUB


def http_prediction(base_url: str, log_path: Path) -> tuple[str, str]:
    """GET the legacy batch URL; the URL and the answer's body."""
    url = base_url + BATCH_PATH
    answer = http_get(url, timeout=TIMEOUT)
    if answer is None or answer[0] != 200:
        got = "no answer" if answer is None else f"HTTP {answer[0]}: {answer[1].decode()[:300]}"
        raise LocalCloudError(f"the sample prediction GET {url} failed: {got} (log: {log_path})")
    return url, answer[1].decode()


def stream_prediction(cloud: LocalCloud, log_path: Path) -> tuple[str, str]:
    """Publish one request to prediction-requests and wait for its result; (request id, result)."""
    project = cloud.config.project_id
    request_id = f"make-run-sample-{uuid.uuid4().hex[:8]}"
    with cloud.pubsub_clients() as (publisher, subscriber):
        topic = publisher.topic_path(project, names.PREDICTION_REQUESTS)
        publisher.publish(topic, json.dumps(STREAM_BODY).encode(), request_id=request_id).result(
            timeout=TIMEOUT
        )
        subscription = subscriber.subscription_path(project, RESULTS_SUBSCRIPTION)
        # Ours only: any other result goes straight back to the subscription for its reader.
        ours = pull(subscriber, subscription, 1, TIMEOUT, keep=with_request_id(request_id))
    if ours:
        return request_id, ours[0].data.decode()
    raise LocalCloudError(
        f"no result for the sample stream request {request_id} within {TIMEOUT:.0f} s "
        f"(log: {log_path})"
    )
