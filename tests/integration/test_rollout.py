"""A rollout (docs/rollout.md): a share of unpinned requests to a candidate, split by request
id, held in the registry and followed by both functions; ended by promote, abort or retrain."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import replace

import pytest

from functions.platform import runtime
from functions.serving import stream
from infra.names import MODEL_NAME as MODEL
from mlctl.cli import main
from model.dataset import load_diabetes
from model.rollout import RolloutError, read_rollout, start_rollout
from model.training import train
from tests.clients import function_client
from tests.pubsub_helpers import message, push_event

pytestmark = pytest.mark.emulators
WAIT = 10.0


@pytest.fixture
def two_versions(registry, production, trained_artifact, serving_env):
    """Version 1 in production, version 2 (the same weights, so the answers tell versions
    apart by their `model.version` only) registered beside it."""
    registry.register(replace(trained_artifact, lineage={**trained_artifact.lineage, "v": 2}))
    return registry


@pytest.fixture
def client(serving_env, repository_root):
    return function_client("predict_batch")


def answered_by(client, request_id: str, **params: str) -> int:
    response = client.post(
        "/predict", params=params, json={"instances": [[0.5]]}, headers={"X-Request-Id": request_id}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id
    return int(response.json()["model"]["version"])


def test_a_ten_percent_split_holds_over_two_thousand_requests(client, two_versions):
    start_rollout(two_versions, MODEL, 2, 10.0)
    ids = [uuid.uuid4().hex for _ in range(2_000)]
    versions = [answered_by(client, request_id) for request_id in ids]
    share = Counter(versions)[2] / len(versions)
    assert 0.08 <= share <= 0.12, share
    # The same id, the same version; a pinned request is never split.
    assert [answered_by(client, request_id) for request_id in ids[:200]] == versions[:200]
    to_candidate = [request_id for request_id, v in zip(ids, versions, strict=True) if v == 2]
    assert {answered_by(client, request_id, version="1") for request_id in to_candidate} == {1}
    assert {answered_by(client, request_id, alias="production") for request_id in to_candidate} == {
        1
    }
    # The Open Inference Protocol splits by the same id.
    v2 = client.post(
        f"/v2/models/{MODEL}/infer",
        json={"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 1], "data": [0.5]}]},
        headers={"X-Request-Id": to_candidate[0]},
    )
    assert v2.json()["model_version"] == "2"


def test_a_redelivered_stream_request_gets_the_same_version(results, two_versions):
    start_rollout(two_versions, MODEL, 2, 50.0)
    for request_id in ("r-1", "r-2", "r-3", "r-4"):
        for _ in range(2):  # delivered, then delivered again
            stream.handle(
                push_event(message(b'{"instances": [[0.5]]}', {"request_id": request_id}))
            )
    answers = [json.loads(result.data) for result in results(8)]
    by_id: dict[str, set[int]] = {}
    for answer in answers:
        by_id.setdefault(answer["request_id"], set()).add(answer["model"]["version"])
    assert all(len(versions) == 1 for versions in by_id.values()), by_id
    assert {version for (version,) in by_id.values()} == {1, 2}  # both took traffic


def test_the_functions_follow_a_rollout_started_and_aborted(client, two_versions, monkeypatch):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    runtime.reset()
    ids = [f"id-{n}" for n in range(300)]

    def versions() -> Counter[int]:
        seen = Counter(answered_by(client, request_id) for request_id in ids)
        assert runtime.model_cache().refreshed(WAIT)  # the refresh these requests started
        return seen

    assert versions() == {1: 300}
    start_rollout(two_versions, MODEL, 2, 50.0)
    versions()  # the refresh that reads the rollout
    assert set(versions()) == {1, 2}
    assert main(["rollout", "--abort"]) == 0
    versions()
    assert versions() == {1: 300}


def test_mlctl_rollout_starts_shows_promotes_and_refuses(two_versions, capsys):
    def run(*argv: str) -> tuple[int, dict | None, str]:
        code = main(["rollout", *argv])
        out, err = capsys.readouterr()
        return code, json.loads(out) if out.strip() else None, err

    for argv, refusal in [
        (("--version", "2", "--percent", "0"), "give more than 0 and less than 100"),
        (("--version", "2", "--percent", "100"), "--promote sends all traffic"),
        (("--version", "9", "--percent", "10"), "has no version 9"),
        (("--version", "1", "--percent", "10"), "version 1 is production already"),
        (("--promote",), "has no rollout under way"),
        (("--version", "2"), "--version needs --percent"),
    ]:
        code, _, err = run(*argv)
        assert (code, err.count("\n")) == (1, 1), err
        assert refusal in err
    assert run("--version", "2", "--percent", "10")[1]["rollout"]["percent"] == 10.0
    assert run("--version", "2", "--percent", "25")[1]["rollout"]["percent"] == 25.0
    code, status, _ = run("--status")
    assert status["production"] == 1
    assert (status["rollout"]["version"], status["rollout"]["percent"]) == (2, 25.0)
    assert status["rollout"]["production_version"] == 1
    assert run("--promote")[1]["version"] == 2
    assert run("--status")[1] == {"model": MODEL, "production": 2, "rollout": None}


def test_a_rollout_that_cannot_be_followed_leaves_production_every_request(client, two_versions):
    two_versions.bucket.blob(f"models/{MODEL}/rollout.json").upload_from_string(b'{"percent": 10}')
    assert {answered_by(client, f"id-{n}") for n in range(50)} == {1}


def test_promoting_a_candidate_promoted_by_hand_keeps_the_alias_history(two_versions, capsys):
    start_rollout(two_versions, MODEL, 2, 10.0)
    two_versions.promote(MODEL, 2)
    assert main(["rollout", "--promote"]) == 0
    capsys.readouterr()
    assert two_versions.alias(MODEL, "production").document["previous_version"] == 1
    assert read_rollout(two_versions, MODEL) is None


def test_a_candidate_with_other_features_is_refused(two_versions, trained_artifact):
    other = train(load_diabetes(("bmi", "bp")), MODEL).artifact
    version = two_versions.register(other).version
    with pytest.raises(RolloutError, match=r"takes features \['bmi', 'bp'\], production \['bmi'\]"):
        start_rollout(two_versions, MODEL, version, 10.0)
