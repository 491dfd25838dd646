"""The join's exactly-once claims against fake-gcs-server, under concurrent deliveries."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from model.feedback import LABELLED, OUTCOMES, PREDICTIONS, Feedback, FeedbackStore, request_key

pytestmark = pytest.mark.emulators


def record(request_id: str, first: int, predictions: list[float], total: int) -> dict:
    return {
        "request_id": request_id,
        "transport": "http",
        "model": {"name": "m", "version": 3},
        "features": ["x"],
        "instances": [[float(i)] for i in range(first, first + len(predictions))],
        "predictions": predictions,
        "instance_count": len(predictions),
        "time": "2026-12-01T10:00:00.000000Z",
        "feedback": True,
        "first_index": first,
        "request_instances": total,
    }


@pytest.fixture
def store(gcs, bucket):
    made = FeedbackStore(gcs, bucket, timeout=10.0)
    yield made
    made.close()


def test_concurrent_redeliveries_of_both_sides_join_each_instance_once(store, gcs, bucket):
    chunks = [record("r", 0, [10.0, 11.0], 4), record("r", 2, [12.0, 13.0], 4)]
    deliveries = [
        *(lambda c=c: store.add_prediction(c, orjson.dumps(c)) for c in chunks for _ in range(5)),
        *(
            lambda n=n: store.add_labels(
                Feedback("r", {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}), "2026-12-02T00:00:00Z", f"m{n % 2}"
            )
            for n in range(6)
        ),
    ]
    random.Random(7).shuffle(deliveries)
    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(delivery) for delivery in deliveries]:
            future.result()

    rows = [orjson.loads(b.download_as_bytes()) for b in gcs.list_blobs(bucket, prefix=LABELLED)]
    assert sorted((row["index"], row["label"], row["prediction"]) for row in rows) == [
        (0, 1.0, 10.0),
        (1, 2.0, 11.0),
        (2, 3.0, 12.0),
        (3, 4.0, 13.0),
    ]
    assert len(list(gcs.list_blobs(bucket, prefix=OUTCOMES))) == 4
    assert store.status().to_document()["joined_by_model"] == {"m": 4}


def test_a_label_that_waited_stands_over_one_that_finds_the_prediction(store, gcs, bucket):
    store.add_labels(Feedback("w", {0: 5.0}), "2026-12-02T00:00:00Z", "first")
    # The prediction's delivery stored its record, then failed before joining.
    chunk = record("w", 0, [10.0], 1)
    gcs.bucket(bucket).blob(f"{PREDICTIONS}{request_key('w')}/0.json").upload_from_string(
        orjson.dumps(chunk)
    )

    later = store.add_labels(Feedback("w", {0: 6.0}), "2026-12-03T00:00:00Z", "second")
    store.add_prediction(chunk, orjson.dumps(chunk))  # its redelivery

    assert (later.joined, later.conflicts) == (1, 1)
    (row,) = [orjson.loads(b.download_as_bytes()) for b in gcs.list_blobs(bucket, prefix=LABELLED)]
    assert (row["label"], row["label_time"]) == (5.0, "2026-12-02T00:00:00Z")


def test_the_sweep_leaves_labels_within_the_window_waiting(store):
    store.add_labels(Feedback("late", {0: 1.0}), "2026-12-02T00:00:00Z", "m1")
    now = datetime.now(UTC)

    assert store.sweep(now, timedelta(days=30)).pending == 1
    assert store.status().pending == 1
    assert dict(store.sweep(now + timedelta(days=31), timedelta(days=30)).unjoinable) == {
        "expired": 1
    }
    assert (store.status().pending, store.status().unjoinable) == (0, {"expired": 1})
