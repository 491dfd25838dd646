"""Trainers racing through the real path: datasets uploaded to the incoming prefix at once,
each trained, gated, registered and maybe promoted by `retrain` while the others are
(docs/training.md); every upload's event names the version that holds its own training."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from infra import names
from model.registry import Registry
from soak.system import System
from tests.datasets import stronger

_EVENTS_TIMEOUT = 180.0  # retrain trains them side by side on a shared machine
_BARRIER_TIMEOUT = 60.0
_UPLOADS_TIMEOUT = _BARRIER_TIMEOUT + 60.0  # the barrier, then one small upload each


@dataclass(frozen=True)
class Uploads:
    datasets: list[str]  # gs://bucket/object#generation of each upload
    events: dict[str, dict[str, Any]]  # dataset -> its model event
    trained_on: dict[int, str | None]  # version -> the dataset its report names
    seconds: float  # from the uploads to the last event

    @property
    def versions(self) -> list[int]:
        return sorted(e["version"] for e in self.events.values() if e.get("version"))


def upload_at_once(system: System, count: int) -> Uploads:
    """count datasets (each a strong relation of its own slope) uploaded at the same moment;
    their model events, and which dataset each registered version was trained on."""
    bucket = system.cloud.config.bucket
    barrier = threading.Barrier(count, timeout=_BARRIER_TIMEOUT)

    def upload(n: int) -> str:
        client = system.cloud.storage_client()
        try:
            name = names.incoming_prefix(system.model_name) + f"soak-race-{n}.csv"
            blob = client.bucket(bucket).blob(name)
            data = stronger(seed=n, slope=1000.0 + 100.0 * n)
            barrier.wait()
            blob.upload_from_string(data, content_type="text/csv")
            return f"gs://{bucket}/{name}#{blob.generation}"
        finally:
            client.close()

    began = time.monotonic()
    pool = ThreadPoolExecutor(count, thread_name_prefix="uploader")
    try:
        datasets = list(pool.map(upload, range(count), timeout=_UPLOADS_TIMEOUT))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck upload must not hold us
    events = first_events(
        lambda wanted, seconds: system.model_events(
            wanted, seconds, keep=lambda event: event.get("dataset") in datasets
        ),
        set(datasets),
        _EVENTS_TIMEOUT,
    )
    seconds = time.monotonic() - began
    client = system.cloud.storage_client()
    try:
        registry = Registry(client, bucket)
        trained_on = {
            version: _dataset_of(registry.report(system.model_name, version))
            for version in sorted(e["version"] for e in events.values() if e.get("version"))
        }
    finally:
        client.close()
    return Uploads(datasets, events, trained_on, seconds)


def first_events(
    pull: Callable[[int, float], list[dict[str, Any]]], datasets: set[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """The first model event of each dataset: pull(count, seconds) (up to count events of
    these datasets) again until every dataset has one or timeout passed. A redelivery
    publishes an event again, so count events need not be count datasets."""
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while (missing := datasets - found.keys()) and (left := deadline - time.monotonic()) > 0:
        for event in pull(len(missing), left):
            found.setdefault(event["dataset"], event)
    return found


def _dataset_of(report: dict[str, Any]) -> str | None:
    dataset = report.get("dataset") or {}
    if not dataset.get("uri"):
        return None
    return f"{dataset['uri']}#{dataset.get('generation')}"
