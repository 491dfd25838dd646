"""The benchmark's stage replay takes the steps the functions take, and answers the same."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bench import stages
from functions import http_batch
from infra import names
from infra.pulling import pull, with_request_id

pytestmark = pytest.mark.emulators


@pytest.fixture
def http(serving_env, production) -> Iterator[stages.HttpStages]:
    replayed = stages.HttpStages()
    yield replayed
    replayed.context.pop()


def test_the_http_replay_answers_what_handle_answers_and_times_every_stage(http):
    clock = stages.Clock()
    replayed = http.replay(clock)
    answered = http_batch.handle(http.request())
    assert replayed.status_code == answered.status_code == 200
    assert json.loads(replayed.get_data()) == json.loads(answered.get_data())
    assert sorted(replayed.headers.keys()) == sorted(answered.headers.keys())
    assert set(clock.spent) == set(stages.HTTP_STAGES)
    assert all(seconds > 0 for seconds in clock.spent.values())


def test_the_whole_function_and_its_floor_answer_through_wsgi(http):
    answer = json.loads(stages._call_wsgi(http.app, http._environ()))
    assert answer["model"]["version"] == 1
    floor = json.loads(stages._call_wsgi(http.floor_app, http._environ()))
    assert set(floor) == set(answer)  # the floor sends the same shape back


def test_the_stream_replay_publishes_its_result_and_times_every_stage(
    serving_env, production, local_cloud
):
    stream = stages.StreamStages()
    clock = stages.Clock()
    prediction = stream.replay(clock)
    assert prediction.predictions.tolist() == production.predict(prediction.instances).tolist()
    assert set(clock.spent) == set(stages.STREAM_STAGES)
    subscription = f"projects/{local_cloud.config.project_id}/subscriptions/"
    subscription += names.PREDICTION_RESULTS_SUB
    with local_cloud.pubsub_clients() as (_, subscriber):
        (result,) = pull(subscriber, subscription, 1, 10.0, keep=with_request_id("bench-stages"))
    assert json.loads(result.data)["predictions"] == prediction.predictions.tolist()
