"""The real requests `make run` sends to show the stack works: over HTTP, for each model on both
protocols, and over Pub/Sub."""

from __future__ import annotations

import json
import shlex
import uuid
from pathlib import Path
from typing import Any

from infra import names
from infra.http_client import http_get, http_post_json
from infra.local.cloud import LocalCloud
from infra.local.errors import LocalCloudError
from infra.pulling import pull, with_request_id

BATCH_PATH = "/batch/[0.5,0.2,0.6]"  # the legacy URL
STREAM_BODY = {"instances": [[0.5]]}
TIMEOUT = 30.0  # the first request loads the model from storage
RESULTS_SUBSCRIPTION = names.PREDICTION_RESULTS_SUB
# The bundled diabetes data's first patient, by feature (scaled as scikit-learn ships it).
PATIENT = {
    "age": 0.0381,
    "sex": 0.0507,
    "bmi": 0.0617,
    "bp": 0.0219,
    "s1": -0.0442,
    "s2": -0.0348,
    "s3": -0.0434,
    "s4": -0.0026,
    "s5": 0.0199,
    "s6": -0.0176,
}


def model_examples(base_url: str, model: str, log_path: Path) -> list[tuple[str, str]]:
    """One prediction of `model` by POST /predict?model=, one by the Open Inference
    Protocol: each as a curl command, with the answer it got."""
    try:
        features = http_get_json(f"{base_url}/model?model={model}")["features"]
        row = [PATIENT.get(name, 0.0) for name in features]
        own_url = f"{base_url}/predict?model={model}"
        own = {"instances": [dict(zip(features, row, strict=True))]}
        v2_url = f"{base_url}/v2/models/{model}/infer"
        v2 = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, len(row)], "data": row}]}
        return [
            (_curl(url, body), json.dumps(http_post_json(url, TIMEOUT, body=body)))
            for url, body in ((own_url, own), (v2_url, v2))
        ]
    except (OSError, KeyError, ValueError) as error:
        raise LocalCloudError(
            f"the sample predictions of {model} failed: {error} (log: {log_path})"
        ) from None


def http_get_json(url: str) -> Any:
    answer = http_get(url, timeout=TIMEOUT)
    if answer is None or answer[0] != 200:
        got = "no answer" if answer is None else f"HTTP {answer[0]}: {answer[1].decode()[:300]}"
        raise LocalCloudError(f"GET {url} failed: {got}")
    return json.loads(answer[1])


def _curl(url: str, body: object) -> str:
    data = shlex.quote(json.dumps(body))
    return f"curl {shlex.quote(url)} -H 'Content-Type: application/json' -d {data}"


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
