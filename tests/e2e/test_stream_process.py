"""predict_stream end to end: emulator push → functions-framework process → results topic."""

from __future__ import annotations

import contextlib
import json
import statistics

import numpy as np
import pytest

from infra import names
from tests.e2e.helpers import publish_requests, stream_results

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]


@pytest.fixture
def system(start_system):
    return start_system(["predict_stream"])


def test_a_thousand_requests_each_get_their_result(system):
    rng = np.random.default_rng(0)
    instances = {
        f"req-{i:04d}": rng.normal(0, 0.05, size=(1 + i % 3, 1)).tolist() for i in range(1000)
    }
    invalid = {request_id for i, request_id in enumerate(sorted(instances)) if i % 20 == 7}  # 5%
    bodies = {
        request_id: (
            json.dumps({"instances": [[True]] if request_id in invalid else rows}).encode()
        )
        for request_id, rows in instances.items()
    }
    sent = publish_requests(system, bodies)
    answered = stream_results(system, len(bodies), timeout=180)

    assert set(answered) == set(bodies), f"missing: {sorted(set(bodies) - set(answered))[:10]}"
    with contextlib.closing(system.storage_client()) as client:
        served = system.registry(client).load(names.MODEL_NAME, 1)
    for request_id in sorted(bodies):
        first = answered[request_id][0]
        assert all(data == first[2] for _, _, data in answered[request_id])  # duplicates agree
        _, attributes, data = first
        assert attributes["request_id"] == data["request_id"] == request_id
        if request_id in invalid:
            assert (attributes["status"], data["error"]["code"]) == ("error", 400)
            assert attributes["model_version"] == ""
        else:
            assert attributes["status"] == data["status"] == "ok"
            assert attributes["model_version"] == "1"
            expected = served.predict(np.array(instances[request_id])).tolist()
            assert data["predictions"] == expected

    latencies = sorted((answered[r][0][0] - sent[r]) * 1000 for r in bodies)
    span = max(a[0][0] for a in answered.values()) - min(sent.values())
    print(
        f"\nstream: {len(bodies)} requests in {span:.2f} s = {len(bodies) / span:.0f} msg/s; "
        f"publish-to-result p50 {statistics.median(latencies):.0f} ms, "
        f"p99 {latencies[int(0.99 * len(latencies)) - 1]:.0f} ms"
    )


def test_a_killed_function_loses_nothing(system):
    bodies = {f"kill-{i:03d}": json.dumps({"instances": [[i / 1000]]}).encode() for i in range(300)}
    publish_requests(system, bodies)
    first = stream_results(system, 20, timeout=60)  # deliveries are flowing: kill mid-stream
    killed = system.kill_worker("predict_stream")
    answered = stream_results(system, len(bodies) - len(first), timeout=120)
    answered.update(first)
    assert system.pull(names.PREDICTION_DEAD_LETTER_SUB, len(bodies), timeout=3) == []
    assert set(answered) == set(bodies), f"{len(bodies) - len(answered)} unanswered"
    assert all(attrs["status"] == "ok" for entries in answered.values() for _, attrs, _ in entries)
    assert killed not in system.worker_pids("predict_stream")  # a new worker answered the rest


def test_storage_outage_dead_letters_then_recovers(start_system, tmp_path):
    # On disk, so that storage comes back with its data after the outage.
    env = {"STORAGE_TIMEOUT_SECONDS": "1", "MODEL_REFRESH_SECONDS": "1"}
    system = start_system(["predict_stream"], env=env, storage_root=tmp_path / "gcs")
    system.stop_storage()  # storage goes down before the function ever loaded a model

    publish_requests(system, {"during-outage": b'{"instances": [[0.5]]}'})
    (dead,) = system.pull(names.PREDICTION_DEAD_LETTER_SUB, 1, timeout=90)
    assert dead.attributes["request_id"] == "during-outage"
    assert json.loads(dead.data) == {"instances": [[0.5]]}  # the request itself, intact
    assert stream_results(system, 1, timeout=3) == {}  # and no result was published for it

    system.start_storage()
    publish_requests(system, {"after-outage": b'{"instances": [[0.5]]}'})
    answered = stream_results(system, 1, timeout=60)
    assert answered["after-outage"][0][1]["status"] == "ok"
    assert system.cloud.exited() == []  # recovered without a restart
