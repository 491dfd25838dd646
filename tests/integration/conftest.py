"""Fixtures of the functions' integration tests: a results topic of their own."""

from __future__ import annotations

import pytest

from tests.pubsub_helpers import pull, temporary_topic


@pytest.fixture
def results(local_cloud, serving_env, monkeypatch):
    """A results topic of this test's own, and a way to read it: results(count, timeout)."""
    with temporary_topic(local_cloud, "results") as topic, local_cloud.pubsub_clients() as (_, sub):
        monkeypatch.setenv("RESULTS_TOPIC", topic.name)
        yield lambda count=1, timeout=20.0: pull(sub, topic.subscription, count, timeout)
