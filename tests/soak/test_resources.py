"""Scenario "resources": all four functions under steady mixed load for DURATION seconds
(HTTP predictions, stream requests, a dataset upload for retrain, drift windows for
monitor_drift), their processes sampled each second.

Warm-up is the first third: in it every kind of work happens at least once, so imports,
the model cache and lazy clients are in place by its end. Targets, per process: every RSS
sample after warm-up within ±RSS_TOLERANCE of the first one after it; open fds and threads
at most FD_CAP / THREAD_CAP after warm-up, and the last third's maximum at most the middle
third's plus FD_SLACK / THREAD_SLACK (no growth).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
import uuid
from collections import Counter

import orjson
import pytest
import requests

from infra import names
from model.dataset import load_diabetes, to_csv
from tests.soak.resources import by_process, summary
from tests.soak.stream import Collector
from tests.traffic import Traffic

pytestmark = pytest.mark.soak
DURATION = 150.0
WARMUP = DURATION / 3
RSS_TOLERANCE = 0.10
FD_SLACK, THREAD_SLACK = 8, 4
FD_CAP, THREAD_CAP = 256, 64
UPLOAD_AT = 2.0
DRIFT_AT = (10.0, 35.0, 75.0, 110.0, 145.0)
SETTLE = 30.0  # pulling after the load: the last results, every model event of the upload
HTTP_PER_SECOND = 40.0
STREAM_PER_SECOND = 10.0
_BATCH = orjson.dumps({"instances": [[round(i / 1000 - 0.05, 3)] for i in range(100)]})
HTTP_MIX = (
    ("POST", "/predict", b'{"instances": [[0.05]]}', 1),
    ("POST", "/predict", _BATCH, 100),
    ("GET", "/batch/[0.01,0.02,0.03]", None, 3),
)


def test_resources(start_system, sampled, outcome):
    system = start_system()
    sampler = sampled(system)
    run = uuid.uuid4().hex[:8]
    collector = Collector(system)  # the stream's results
    drift: Counter[str] = Counter()
    published: list[str] = []
    stop = threading.Event()
    dataset = ""

    def stream() -> None:
        with system.cloud.pubsub_clients() as (publisher, _):
            topic = system.config.topic_path(names.PREDICTION_REQUESTS)
            began = time.monotonic()
            while not stop.wait(
                max(0.0, began + len(published) / STREAM_PER_SECOND - time.monotonic())
            ):
                body = orjson.dumps({"instances": [[round(len(published) % 100 / 1000, 3)]]})
                published.append(f"load-{run}-{len(published)}")
                publisher.publish(topic, body, request_id=published[-1])

    def upload() -> None:
        """A dataset upload: the bucket's notification starts retrain (docs/training.md)."""
        nonlocal dataset
        with contextlib.closing(system.storage_client()) as client:
            name = names.incoming_prefix(system.model) + f"soak-{run}.csv"
            blob = client.bucket(system.config.bucket).blob(name)
            blob.upload_from_string(to_csv(load_diabetes()), content_type="text/csv")
            dataset = f"gs://{system.config.bucket}/{name}#{blob.generation}"

    def window() -> None:
        """One drift window (docs/monitoring.md): POST / to monitor_drift."""
        with requests.Session() as session:
            session.trust_env = False
            try:
                answer = session.post(system.url("monitor_drift") + "/", timeout=120)
                drift[str(answer.status_code)] += 1
            except requests.RequestException as error:
                drift[type(error).__name__] += 1

    began = time.monotonic()
    offset = sampler.elapsed()  # the sampler's clock when the load began
    publisher = threading.Thread(target=stream, name="load-stream", daemon=True)
    with Traffic(system.url("predict_batch"), 1, HTTP_MIX, HTTP_PER_SECOND) as traffic:
        publisher.start()
        schedule = [(UPLOAD_AT, upload), *((at, window) for at in DRIFT_AT)]
        for at, action in sorted(schedule, key=lambda due: due[0]):
            time.sleep(max(0.0, began + at - time.monotonic()))  # pacing the schedule
            action()
        time.sleep(max(0.0, began + DURATION - time.monotonic()))
        stop.set()
        publisher.join(timeout=30)
    samples = [
        dataclasses.replace(s, seconds=s.seconds - offset)
        for s in sampler.samples()
        if offset <= s.seconds <= offset + DURATION
    ]
    events = system.pull(
        names.MODEL_EVENTS_SUB,
        10,
        SETTLE,
        keep=lambda m: json.loads(m.data).get("dataset") == dataset,
    )
    answered = set(collector.stop().results) & set(published)
    http = Counter(str(a.status) for a in traffic.answers)
    outcome.figures = {
        "seconds": DURATION,
        "warmup_seconds": WARMUP,
        "load": {
            "http": dict(http),
            "stream_published": len(published),
            "stream_answered": len(answered),
            "drift_windows": dict(drift),
            "model_events": [json.loads(e.data).get("event") for e in events],
        },
        "resources": summary(samples, warmup_end=WARMUP),
    }
    outcome.expect(http.total() > 0 and set(http) == {"200"}, "every HTTP request 200")
    outcome.expect(len(answered) == len(published) > 0, "every stream request answered")
    outcome.expect(set(drift) == {"200"}, "every drift window 200")
    outcome.expect(
        len(events) == 1,
        f"retrain published one outcome of the upload ({outcome.figures['load']['model_events']})",
    )
    for (function, pid), taken in sorted(by_process(samples).items()):
        name = f"{function} {taken[0].role} {pid}"
        after = [s for s in taken if s.seconds >= WARMUP]
        middle = [s for s in after if s.seconds < 2 * WARMUP]
        last = [s for s in after if s.seconds >= 2 * WARMUP]
        if not outcome.expect(bool(middle and last), f"{name}: sampled through the run"):
            continue
        spread = max(abs(s.rss_kib - after[0].rss_kib) for s in after) / after[0].rss_kib
        outcome.expect(
            spread <= RSS_TOLERANCE,
            f"{name}: RSS within {RSS_TOLERANCE:.0%} after warm-up (off by {spread:.1%})",
        )
        for measure, slack, cap in (
            ("fds", FD_SLACK, FD_CAP),
            ("threads", THREAD_SLACK, THREAD_CAP),
        ):
            middle_max = max(getattr(s, measure) for s in middle)
            last_max = max(getattr(s, measure) for s in last)
            outcome.expect(
                last_max <= middle_max + slack,
                f"{name}: {measure} not growing (last third max {last_max}, middle "
                f"{middle_max}, slack {slack})",
            )
            highest = max(getattr(s, measure) for s in after)
            outcome.expect(
                highest <= cap, f"{name}: {measure} at most {cap} after warm-up (max {highest})"
            )
    outcome.assert_met()
