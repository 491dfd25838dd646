"""Steady mixed load on all four functions, for the "resources" scenario: HTTP predictions
(one instance, and batches), stream requests, one dataset upload for retrain, and drift
windows for monitor_drift, each at its own pace and counted."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests

from infra import names
from infra.pulling import pull_once
from model.dataset import load_diabetes, to_csv
from soak import loopback
from soak.system import System

HTTP_PER_SECOND = 40.0
STREAM_PER_SECOND = 10.0
_BATCH = orjson.dumps({"instances": [[round(i / 1000 - 0.05, 3)] for i in range(100)]})
_TIMEOUT = 30.0


@dataclass
class Counts:
    http: Counter[str] = field(default_factory=Counter)
    stream_published: int = 0
    stream_answered: set[str] = field(default_factory=set)
    drift: Counter[str] = field(default_factory=Counter)
    model_events: list[str] = field(default_factory=list)


class SteadyLoad:
    """HTTP and stream load on threads of their own until stop(); uploads and drift windows
    when the scenario calls them."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.counts = Counts()
        self._stop = threading.Event()
        self._run = uuid.uuid4().hex[:8]
        self._dataset: str | None = None  # gs://bucket/object#generation of the upload
        self._threads = [
            threading.Thread(target=self._http, name="load-http", daemon=True),
            threading.Thread(target=self._stream, name="load-stream", daemon=True),
        ]
        self._session = loopback.session()  # drift windows; closed by stop()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=_TIMEOUT)
        self._session.close()

    def upload(self) -> None:
        """A dataset upload: the bucket's notification starts retrain (docs/training.md)."""
        client = self.system.cloud.storage_client()
        try:
            name = names.incoming_prefix(self.system.model_name) + f"soak-{self._run}.csv"
            blob = client.bucket(self.system.cloud.config.bucket).blob(name)
            blob.upload_from_string(to_csv(load_diabetes()), content_type="text/csv")
            self._dataset = f"gs://{blob.bucket.name}/{name}#{blob.generation}"
        finally:
            client.close()

    def drift(self) -> None:
        """One drift window (docs/monitoring.md): POST / to monitor_drift."""
        try:
            answer = self._session.post(self.system.url("monitor_drift") + "/", timeout=120)
            self.counts.drift[str(answer.status_code)] += 1
        except requests.RequestException as error:
            self.counts.drift[type(error).__name__] += 1

    def settle(self, seconds: float) -> None:
        """Pull for seconds what is left of the stream's results, and every model event of
        the upload (all of them until the end, so a second one would be counted)."""
        deadline = time.monotonic() + seconds
        with self.system.cloud.pubsub_clients() as (_, subscriber):
            project = self.system.cloud.config.project_id
            events = subscriber.subscription_path(project, names.MODEL_EVENTS_SUB)
            while (left := deadline - time.monotonic()) > 0:
                for message in pull_once(
                    subscriber, events, keep=self._of_the_upload, timeout=min(2.0, left)
                ):
                    self.counts.model_events.append(orjson.loads(message.data).get("event"))
                if self._stream_pending():
                    self._pull_results(subscriber)

    def _of_the_upload(self, message: Any) -> bool:
        """Whether a model event is about this load's upload (events name their dataset)."""
        dataset = orjson.loads(message.data).get("dataset")
        return self._dataset is not None and dataset == self._dataset

    def _http(self) -> None:
        requests_of: list[Callable[[requests.Session, str], requests.Response]] = [
            lambda s, url: s.post(url + "/predict", json={"instances": [[0.05]]}, timeout=_TIMEOUT),
            lambda s, url: s.post(
                url + "/predict",
                data=_BATCH,
                headers={"Content-Type": "application/json"},
                timeout=_TIMEOUT,
            ),
            lambda s, url: s.get(url + "/batch/[0.01,0.02,0.03]", timeout=_TIMEOUT),
        ]
        url = self.system.url("predict_batch")
        with loopback.session() as session:
            for index in _paced(HTTP_PER_SECOND, self._stop):
                try:
                    answer = requests_of[index % len(requests_of)](session, url)
                    self.counts.http[str(answer.status_code)] += 1
                except requests.RequestException as error:
                    self.counts.http[type(error).__name__] += 1

    def _stream(self) -> None:
        with self.system.cloud.pubsub_clients() as (publisher, subscriber):
            project = self.system.cloud.config.project_id
            topic = publisher.topic_path(project, names.PREDICTION_REQUESTS)
            for index in _paced(STREAM_PER_SECOND, self._stop):
                body = orjson.dumps({"instances": [[round(index % 100 / 1000, 3)]]})
                publisher.publish(topic, body, request_id=f"load-{self._run}-{index}")
                self.counts.stream_published += 1
                if index % 50 == 49:  # keep the results subscription drained as it goes
                    self._pull_results(subscriber, timeout=0.5)

    def _pull_results(self, subscriber: Any, timeout: float = 2.0) -> None:
        path = subscriber.subscription_path(
            self.system.cloud.config.project_id, names.PREDICTION_RESULTS_SUB
        )
        for message in pull_once(subscriber, path, max_messages=1000, timeout=timeout):
            request_id = message.attributes.get("request_id", "")
            if request_id.startswith(f"load-{self._run}-"):
                self.counts.stream_answered.add(request_id)

    def _stream_pending(self) -> bool:
        return len(self.counts.stream_answered) < self.counts.stream_published


def _paced(per_second: float, stop: threading.Event) -> Any:
    """0, 1, 2, … each at its time on a steady schedule, until stop is set."""
    began = time.monotonic()
    index = 0
    while not stop.is_set():
        yield index
        index += 1
        stop.wait(max(0.0, began + index / per_second - time.monotonic()))
