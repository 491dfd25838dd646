"""Scenario "feedback": 2,000 requests of 5 instances (1,600 over HTTP, 400 on the stream),
then 10,000 labels for them: whole requests and single instances, by POST /feedback and on
the topic, a tenth of the requests labelled before they are made, with 800 duplicates, 100
labels out of range and 200 bad ones mixed in (docs/feedback.md). Targets: every instance
joined exactly once, within 8 minutes, with the label sent and the prediction answered; the
duplicates change nothing; the 100 out of range and the 100 bad messages on the topic
counted as unjoinable, the 100 bad posts refused with a 400; nothing pending; no function
exits.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra import names
from model.feedback import LABELLED
from tests.soak.mlctl import mlctl

pytestmark = pytest.mark.soak
REQUESTS = 2_000
STREAMED = 400
INSTANCES = 5
EARLY = 200  # requests labelled before they are made
DUPLICATES = 800
OUT_OF_RANGE = 100
BAD = 100  # on each way in
# fake-gcs-server creates an object in time that grows with the bucket (a scan under one lock:
# 1 ms at 1,000 objects, 20 ms at 30,000), and the join ends with 22,000: about 5.5 minutes.
JOIN_TIMEOUT_SECONDS = 480.0


def post(url: str, body: bytes, request_id: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if request_id:
        headers["X-Request-Id"] = request_id
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_feedback(start_system, sampled, outcome):
    system = start_system(["predict_batch", "predict_stream", "join_feedback"])
    sampled(system)
    rng = random.Random(24)
    base = system.url("predict_batch")
    ids = [f"req-{i:05d}" for i in range(REQUESTS)]
    streamed = set(rng.sample(ids, STREAMED))
    early = set(rng.sample(ids, EARLY))
    instances = {i: [[rng.uniform(-0.1, 0.1)] for _ in range(INSTANCES)] for i in ids}
    labels = {i: [round(rng.uniform(25, 350), 1) for _ in range(INSTANCES)] for i in ids}

    # Three in four requests labelled whole, the others one instance a message; half by HTTP.
    messages: list[tuple[str, dict]] = []
    for n, request_id in enumerate(ids):
        way = "http" if n % 2 == 0 else "topic"
        if n % 4 < 3:
            messages.append((way, {"request_id": request_id, "labels": labels[request_id]}))
        else:
            messages += [
                (way, {"request_id": request_id, "index": i, "label": label})
                for i, label in enumerate(labels[request_id])
            ]
    duplicates = rng.sample(messages, DUPLICATES)
    out_of_range = [
        ("topic", {"request_id": ids[n], "index": INSTANCES + n % 3, "label": 1.0})
        for n in range(OUT_OF_RANGE)
    ]
    bad = [("http", {"request_id": "x", "index": -1, "label": 1.0})] * BAD + [
        ("topic", {"request_id": "", "labels": [1.0]})
    ] * BAD
    first = [m for m in messages if m[1]["request_id"] in early]
    later = [m for m in messages if m[1]["request_id"] not in early]
    rest = later + duplicates + out_of_range + bad
    rng.shuffle(rest)

    refused: list[int] = []

    def send(batch: list[tuple[str, dict]]) -> None:
        by_topic = [(json.dumps(body).encode(), {}) for way, body in batch if way == "topic"]
        system.publish_all(names.PREDICTION_FEEDBACK, by_topic)
        with ThreadPoolExecutor(8) as pool:
            codes = pool.map(
                lambda body: post(base + "/feedback", json.dumps(body).encode())[0],
                [body for way, body in batch if way == "http"],
            )
            refused.extend(code for code in codes if code != 202)

    began = time.monotonic()
    send(first)
    answered: dict[str, list[float]] = {}
    with ThreadPoolExecutor(8) as pool:
        for request_id, (code, body) in zip(
            sorted(set(ids) - streamed),
            pool.map(
                lambda i: post(
                    base + "/predict", json.dumps({"instances": instances[i]}).encode(), i
                ),
                sorted(set(ids) - streamed),
            ),
            strict=True,
        ):
            assert code == 200, body
            answered[request_id] = json.loads(body)["predictions"]
    system.publish_all(
        names.PREDICTION_REQUESTS,
        [(json.dumps({"instances": instances[i]}).encode(), {"request_id": i}) for i in streamed],
    )
    send(rest)
    sent_seconds = time.monotonic() - began

    status: dict = {}
    deadline = time.monotonic() + JOIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status = mlctl(system, "feedback", "--status", "--json")
        if status["joined"] >= REQUESTS * INSTANCES and status["unjoinable"] >= OUT_OF_RANGE + BAD:
            break
        time.sleep(10)  # each look lists every object of the join
    joined_seconds = time.monotonic() - began
    with contextlib.closing(system.storage_client()) as client, ThreadPoolExecutor(8) as pool:
        blobs = client.list_blobs(system.config.bucket, prefix=LABELLED)
        rows = list(pool.map(lambda blob: json.loads(blob.download_as_bytes()), blobs))
    pairs = {(row["request_id"], row["index"]) for row in rows}
    wrong_label = [r for r in rows if r["label"] != labels[r["request_id"]][r["index"]]]
    wrong_prediction = [
        r
        for r in rows
        if r["request_id"] in answered and r["prediction"] != answered[r["request_id"]][r["index"]]
    ]
    outcome.figures = {
        "labelled_instances": REQUESTS * INSTANCES,
        "label_messages": len(messages) + DUPLICATES + OUT_OF_RANGE + 2 * BAD,
        "rows": len(rows),
        "distinct_rows": len(pairs),
        "status": status,
        "refused_posts": len(refused),
        "seconds_to_send": round(sent_seconds, 1),
        "seconds_to_join_all": round(joined_seconds, 1),  # within the 10 s between looks
        "labels_per_second": round(REQUESTS * INSTANCES / joined_seconds, 1),
    }
    total = REQUESTS * INSTANCES
    outcome.expect(
        status.get("joined") == total, f"all {total} joined within {JOIN_TIMEOUT_SECONDS:.0f} s"
    )
    outcome.expect(len(rows) == len(pairs) == total, f"{total} rows, one per instance")
    outcome.expect(not wrong_label, f"each row has the label sent ({len(wrong_label)} differ)")
    outcome.expect(not wrong_prediction, f"and the prediction answered ({len(wrong_prediction)})")
    outcome.expect(
        status.get("unjoinable_by_reason")
        == {"out_of_range": OUT_OF_RANGE, "invalid_message": BAD},
        f"{OUT_OF_RANGE} out of range and {BAD} invalid messages counted unjoinable",
    )
    outcome.expect(status.get("pending") == 0, "no label pending")
    outcome.expect(refused == [400] * BAD, f"{BAD} bad posts refused with 400")
    outcome.expect(system.cloud.exited() == [], "no function exited")
    outcome.assert_met()
