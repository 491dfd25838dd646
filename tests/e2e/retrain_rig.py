"""The continuous-training loop of one test: its own storage, topics and function processes.

fake-gcs-server of the test's own publishes its uuid-named bucket's datasets/ uploads to a
uuid-named topic on the session's Pub/Sub emulator; a push subscription (dead letters after
5 attempts) feeds a `retrain` process; `predict_batch` serves from the same bucket.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from google.cloud import storage

from infra import names
from infra.local.cloud import (
    CloudConfig,
    LocalCloud,
    fake_gcs_server_command,
    free_port,
    wait_http_ok,
)
from model.dataset import load_diabetes
from model.gcs import storage_client
from model.pipeline import train_register_promote
from model.registry import Registry
from tests.e2e.functions import FunctionProcess
from tests.pubsub_helpers import Topic, pull, temporary_topic

MODEL = names.MODEL_NAME
REFRESH_SECONDS = 1.0


@dataclass
class RetrainRig:
    cloud: LocalCloud  # the session's emulators
    storage: LocalCloud  # this test's fake-gcs-server
    bucket: str
    dataset_events: Topic
    model_events: Topic
    dead_letter: Topic
    retrain: FunctionProcess
    predict_batch: FunctionProcess
    tmp_path: Path
    function_env: dict[str, str]
    events_seen: list[dict] = field(default_factory=list)

    @property
    def client(self) -> storage.Client:
        return storage_client(self.cloud.config.project_id, self.storage.config.storage_url)

    @property
    def registry(self) -> Registry:
        return Registry(self.client, self.bucket, timeout=5.0)

    def object_name(self, file_name: str, model: str = MODEL) -> str:
        return names.incoming_prefix(model) + file_name

    def upload(self, file_name: str, data: bytes, model: str = MODEL) -> storage.Blob:
        """Upload with the Cloud Storage client, as `mlctl upload` does."""
        blob = self.client.bucket(self.bucket).blob(self.object_name(file_name, model))
        blob.upload_from_string(data, content_type="text/csv")
        return blob

    def gcloud_upload(self, file_name: str, data: bytes, model: str = MODEL) -> str:
        """Upload with `gcloud storage cp` against this test's fake-gcs-server; the gs:// URI."""
        local = self.tmp_path / "uploads" / file_name
        local.parent.mkdir(exist_ok=True)
        local.write_bytes(data)
        destination = f"gs://{self.bucket}/{names.incoming_prefix(model)}"
        env = {
            **os.environ,
            "CLOUDSDK_CONFIG": str(self.tmp_path / "gcloud-config"),  # never the user's
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{self.storage.config.storage_url}/",
            "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
            "CLOUDSDK_CORE_PROJECT": self.cloud.config.project_id,
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        }
        subprocess.run(
            ["gcloud", "storage", "cp", str(local), destination],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return f"gs://{self.bucket}/{self.object_name(file_name, model)}"

    def events(self, count: int, timeout: float = 60.0) -> list[dict]:
        """The next `count` model events: data, attributes and Pub/Sub's publish time."""
        with self.cloud.pubsub_clients() as (_, subscriber):
            received = pull(subscriber, self.model_events.subscription, count, timeout)
        events = [
            {
                "data": json.loads(message.data),
                "attributes": dict(message.attributes),
                "published": message.publish_time.timestamp(),
            }
            for message in received
        ]
        self.events_seen.extend(events)
        return events

    def dead_letters(self, count: int, timeout: float) -> list:
        with self.cloud.pubsub_clients() as (_, subscriber):
            return pull(subscriber, self.dead_letter.subscription, count, timeout)

    def notifications(self, count: int, timeout: float = 30.0) -> list:
        """Copies of the notifications fake-gcs-server published (a pull subscription)."""
        with self.cloud.pubsub_clients() as (_, subscriber):
            return pull(subscriber, self.dataset_events.subscription, count, timeout)

    def healthy(self) -> bool:
        """Every function process still runs, and predict_batch answers its health check."""
        for function in (self.retrain, self.predict_batch):
            assert function.process is not None
            if function.process.poll() is not None:
                return False
        wait_http_ok(f"{self.predict_batch.url}/health", timeout=10)
        return True


def start_storage(storage: LocalCloud) -> None:
    process = storage.start_process(
        f"fake-gcs-{uuid.uuid4().hex[:6]}", fake_gcs_server_command(storage.config)
    )
    wait_http_ok(f"{storage.config.storage_url}/storage/v1/b", timeout=15, process=process)


def retrain_rig(
    cloud: LocalCloud,
    stack: ExitStack,
    tmp_path: Path,
    storage_root: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> RetrainRig:
    """Start everything (stopped by `stack`); production is version 1, the seed model."""
    bucket = f"retrain-{uuid.uuid4().hex[:10]}"
    dataset_events = stack.enter_context(temporary_topic(cloud, "dataset-events"))
    model_events = stack.enter_context(temporary_topic(cloud, "model-events"))
    dead_letter = stack.enter_context(temporary_topic(cloud, "dataset-dead-letter"))
    storage = LocalCloud(
        CloudConfig(
            pubsub_host=cloud.config.pubsub_host,
            storage_port=free_port(),
            bucket=bucket,
            storage_root=storage_root,
            log_dir=tmp_path,
            dataset_events_topic=dataset_events.name,
        )
    )
    stack.callback(storage.stop)
    start_storage(storage)
    client = storage_client(cloud.config.project_id, storage.config.storage_url)
    client.create_bucket(bucket)
    outcome = train_register_promote(Registry(client, bucket), load_diabetes(), MODEL)
    assert outcome.promoted

    env = {
        "STORAGE_EMULATOR_HOST": storage.config.storage_url,
        "MODEL_BUCKET": bucket,
        "MODEL_EVENTS_TOPIC": model_events.name,
        "MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS),
        **(extra_env or {}),
    }
    functions = LocalCloud(cloud.config)
    stack.callback(functions.stop)
    retrain = FunctionProcess(functions, "retrain", "cloudevent", env).start()
    predict_batch = FunctionProcess(functions, "predict_batch", "http", env).start()
    push = f"{dataset_events.name}-push"
    cloud.ensure_push_subscription(
        push,
        dataset_events.name,
        f"{retrain.url}/projects/{cloud.config.project_id}/topics/{dataset_events.name}",
        dead_letter_topic=dead_letter.name,
    )

    def delete_push_subscription() -> None:
        with cloud.pubsub_clients() as (_, subscriber):
            path = subscriber.subscription_path(cloud.config.project_id, push)
            subscriber.delete_subscription(subscription=path)

    stack.callback(delete_push_subscription)
    return RetrainRig(
        cloud,
        storage,
        bucket,
        dataset_events,
        model_events,
        dead_letter,
        retrain,
        predict_batch,
        tmp_path,
        env,
    )


def wait_until(condition, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(interval)
