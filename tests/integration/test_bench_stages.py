"""The benchmark times the functions' own handlers: every stage is told, and they answer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bench import stages
from infra import names
from infra.pulling import pull, with_request_id

pytestmark = pytest.mark.emulators


@pytest.fixture
def http(serving_env, production) -> Iterator[stages.HttpStages]:
    replayed = stages.HttpStages()
    yield replayed
    replayed.loop.close()


def test_the_http_handler_tells_every_stage_and_answers(http, production):
    clock = stages.Clock()
    answered = http.replay(clock)
    assert answered.status_code == 200
    assert json.loads(answered.body)["predictions"] == production.predict([[0.5]]).tolist()
    assert list(clock.spent) == list(stages.HTTP_STAGES)  # each stage, in its order
    assert all(seconds > 0 for seconds in clock.spent.values())


def test_a_prediction_record_is_built_from_a_real_prediction(http):
    assert http.record_build_us(records=10) > 0


def test_the_whole_function_and_its_floor_answer_through_asgi(http):
    answer = json.loads(http.call(http.app))
    assert answer["model"]["version"] == 1
    floor = json.loads(http.call(http.floor_app))
    assert set(floor) == set(answer)  # the floor sends the same shape back


def test_the_stream_handler_tells_every_stage_and_publishes_its_result(
    serving_env, production, local_cloud
):
    stream = stages.StreamStages()
    stream.loop.close()  # only its handler is called here
    clock = stages.Clock()
    stream.replay(clock)
    assert list(clock.spent) == list(stages.STREAM_STAGES)
    subscription = f"projects/{local_cloud.config.project_id}/subscriptions/"
    subscription += names.PREDICTION_RESULTS_SUB
    with local_cloud.pubsub_clients() as (_, subscriber):
        (result,) = pull(subscriber, subscription, 1, 10.0, keep=with_request_id("bench-stages"))
    assert json.loads(result.data)["predictions"] == production.predict([[0.5]]).tolist()
