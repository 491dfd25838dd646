"""Ground truth through the emulators: labels of HTTP and stream predictions joined once with
them by join_feedback, whatever the order and the redeliveries (docs/feedback.md)."""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request

import pytest

from infra import names
from mlctl.cli import main
from model.feedback import LABELLED, request_key
from tests.integration.test_cli import run_text

pytestmark = pytest.mark.emulators
MODEL = names.MODEL_NAME
WAIT_SECONDS = 60.0


def post(url: str, body: object, request_id: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if request_id:
        headers["X-Request-Id"] = request_id
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def rows(system) -> dict[tuple[str, int], dict]:
    """The joined rows under labelled/, by (request id, index)."""
    with contextlib.closing(system.storage_client()) as client:
        found = {}
        for blob in client.list_blobs(system.config.bucket, prefix=LABELLED):
            (row,) = [json.loads(line) for line in blob.download_as_bytes().splitlines()]
            found[(row["request_id"], row["index"])] = row | {"path": blob.name}
        return found


def status(capsys, system, monkeypatch) -> dict:
    for key, value in system.cloud.env().items():
        monkeypatch.setenv(key, value)
    assert main(["feedback", "--status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def conflicts(system) -> int:
    """Conflicting labels join_feedback's log lines have counted."""
    lines = system.children["join_feedback"].log_path.read_text().splitlines()
    return sum(json.loads(line).get("conflicts", 0) for line in lines if line.startswith("{"))


def wait_until(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")
        time.sleep(0.2)


def test_labels_join_once_in_any_order_with_duplicates_and_redeliveries(
    start_system, capsys, monkeypatch
):
    # Retention 0: the sweep decides every label still waiting. Records of 10 instances.
    env = {"PREDICTION_LOG_MAX_INSTANCES": "10", "FEEDBACK_RETENTION_DAYS": "0"}
    system = start_system(["predict_batch", "predict_stream", "join_feedback"], env=env)
    predict = system.url("predict_batch") + "/predict"
    feedback = system.url("predict_batch") + "/feedback"
    topic = names.PREDICTION_FEEDBACK

    # A label before its prediction; then the prediction.
    assert post(feedback, {"request_id": "early", "index": 1, "label": 100.0})[0] == 202
    code, early = post(predict, {"instances": [[0.01], [0.02]]}, "early")
    assert code == 200
    # HTTP, labels after: all three in one message.
    code, answered = post(predict, {"instances": [[0.05], [-0.02], [0.0]]}, "http")
    assert code == 200
    assert post(feedback, {"request_id": "http", "labels": [150.0, 90.5, 120.0]})[0] == 202
    # Over PREDICTION_LOG_MAX_INSTANCES: every instance is logged all the same.
    code, big = post(predict, {"instances": [[i / 1000] for i in range(25)]}, "big")
    assert code == 200
    system.publish(topic, json.dumps({"request_id": "big", "index": 23, "label": 7.0}).encode())
    # A stream request, then its labels twice, and once with another value.
    system.publish(names.PREDICTION_REQUESTS, b'{"instances": [[0.03], [0.04]]}', request_id="s")
    (result,) = system.pull_json(names.PREDICTION_RESULTS_SUB, 1, timeout=30)
    for _ in range(2):
        system.publish(topic, json.dumps({"request_id": "s", "labels": [1.0, 2.0]}).encode())
    # Unjoinable: out of range, bad messages, a request never made.
    system.publish(topic, json.dumps({"request_id": "http", "index": 7, "label": 1.0}).encode())
    system.publish(topic, b"not json")
    system.publish(topic, b'{"request_id": "http", "labels": ["a"]}')
    system.publish(topic, json.dumps({"request_id": "never", "index": 0, "label": 1.0}).encode())
    # The log record of "http" delivered again: nothing new.
    (record,) = system.pull(
        names.PREDICTION_LOG_SUB, 1, 30, keep=lambda m: json.loads(m.data)["request_id"] == "http"
    )
    system.publish(names.PREDICTION_LOG, record.data, **dict(record.attributes))

    expected = {
        ("early", 1): (100.0, early["predictions"][1]),
        ("http", 0): (150.0, answered["predictions"][0]),
        ("http", 1): (90.5, answered["predictions"][1]),
        ("http", 2): (120.0, answered["predictions"][2]),
        ("big", 23): (7.0, big["predictions"][23]),
        ("s", 0): (1.0, result["predictions"][0]),
        ("s", 1): (2.0, result["predictions"][1]),  # the first label stands
    }
    counts = wait_until(
        lambda: (
            (s := status(capsys, system, monkeypatch))["unjoinable"] == 3
            and s["joined"] == len(expected)
            and s["labels"] == len(expected) + 2  # and "http" 7, "never" 0
            and s
        ),
        "every label decided",
    )
    assert counts["pending"] == 1  # "never", until the sweep
    # Another value for a label already joined: counted as a conflict, the first stands.
    system.publish(topic, json.dumps({"request_id": "s", "labels": [1.0, 3.0]}).encode())
    wait_until(lambda: conflicts(system) == 1, "the conflicting label handled")
    assert counts["unjoinable_by_reason"] == {"out_of_range": 1, "invalid_message": 2}
    joined = rows(system)
    assert {pair: (row["label"], row["prediction"]) for pair, row in joined.items()} == expected
    http_row = joined[("http", 1)]
    assert http_row["features"] == [-0.02]
    assert http_row["feature_names"] == ["bmi"]
    assert (http_row["model"], http_row["version"], http_row["transport"]) == (MODEL, 1, "http")
    assert joined[("s", 0)]["transport"] == "stream"
    assert http_row["request_time"] <= http_row["label_time"]
    date = http_row["label_time"][:10]
    assert http_row["path"] == f"labelled/{MODEL}/date={date}/{request_key('http')}-1.json"

    code, swept = post(system.url("join_feedback") + "/sweep", {})
    assert (code, swept["unjoinable"]) == (200, {"expired": 1})
    counts = status(capsys, system, monkeypatch)
    assert (counts["pending"], counts["unjoinable_by_reason"]["expired"]) == (0, 1)
    assert rows(system).keys() == expected.keys()  # nothing joined twice meanwhile
    code, table, _ = run_text(capsys, "feedback", "--status")
    assert re.search(r"^joined\s+7$", table, re.M)
    assert re.search(r"^  expired\s+1$", table, re.M)


def test_post_feedback_refuses_what_is_not_feedback(start_system):
    system = start_system(["predict_batch"], first_model=False)
    url = system.url("predict_batch") + "/feedback"
    for body, message in (
        ({"labels": [1.0]}, "request_id"),
        ({"request_id": "r", "index": -1, "label": 1.0}, "index"),
        ({"request_id": "r", "index": 0, "label": None}, "label"),
        ({"request_id": "r", "labels": []}, "labels"),
        ({"request_id": "r", "labels": [1.0], "index": 0, "label": 1.0}, "not both"),
        ({"request_id": "r", "label": 1.0, "extra": 1}, "unknown fields"),
    ):
        code, answer = post(url, body)
        assert code == 400, body
        assert message in answer["error"]["message"], answer
