"""The local system, assembled in one place: `make run`, the tests, `make bench` and `make
soak` all start it here, and nothing else starts an emulator or a function.

A LocalSystem is a LocalCloud (the emulators, the topics and subscriptions of
docs/resources.md, the bucket), the first model in its registry, and the entry points of
main.py as production runs them (one functions-framework process each), fed by their push
subscriptions. Any part can be stopped, frozen or started again to simulate an outage.

Systems can share one Pub/Sub emulator (a JVM takes seconds to start): each then has its
own fake-gcs-server, bucket and suffixed topics and subscriptions, so none sees another's
messages or objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from google.cloud import storage
from google.pubsub_v1 import PubsubMessage as Message

from infra import names
from infra.local.cloud import FAKE_GCS_SERVER, CloudConfig, LocalCloud
from infra.local.errors import LocalCloudError
from infra.local.first_model import ServedModel, ensure_served_model
from infra.local.processes import LOOPBACK, Child, free_port, port_in_use, process_children
from infra.local.serving import (
    FUNCTION_START_TIMEOUT,
    REPOSITORY_ROOT,
    Function,
    PushSubscription,
    exposed_functions,
    wait_until_serving,
)
from infra.pulling import pull
from model.registry import Registry

__all__ = ["FAKE_GCS_SERVER", "LocalSystem"]


class LocalSystem:
    """The emulators, the first model and the functions, under one stop()."""

    def __init__(
        self,
        cloud: LocalCloud,
        model: str = names.MODEL_NAME,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.cloud = cloud
        self.model = model
        # What every function gets beyond cloud.env(): the settings of functions/platform/config.py.
        self.env = {"MODEL_NAME": model, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.functions: dict[str, Function] = {}
        self.children: dict[str, Child] = {}
        self.served: ServedModel | None = None
        self.pushes: list[PushSubscription] = []
        self._function_env: dict[str, Mapping[str, str]] = {}

    @classmethod
    def on_free_ports(
        cls,
        log_dir: Path,
        *,
        shared_pubsub: str | None = None,
        storage_root: Path | None = None,
        model: str = names.MODEL_NAME,
        env: Mapping[str, str] | None = None,
    ) -> LocalSystem:
        """A system on ports nothing listens on now. With shared_pubsub (the host:port of a
        running emulator) it uses that emulator under a suffix of its own, and a bucket of
        its own on its own fake-gcs-server."""
        if shared_pubsub is None:
            cloud = LocalCloud.on_free_ports(log_dir, storage_root=storage_root)
        else:
            suffix = uuid.uuid4().hex[:10]
            config = CloudConfig(
                pubsub_host=shared_pubsub,
                storage_port=free_port(),
                bucket=f"{names.BUCKET}-{suffix}",
                storage_root=storage_root,
                log_dir=log_dir,
                suffix=suffix,
            )
            cloud = LocalCloud(config)
        return cls(cloud, model, env)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def config(self) -> CloudConfig:
        return self.cloud.config

    # Starting and stopping.

    def start(
        self,
        functions: Iterable[str] | None = None,
        first_model: bool = True,
        other_models: Iterable[str] = (),
    ) -> Self:
        """The emulators, the first model (and other_models), then functions (default: all
        main.py exposes) with their push subscriptions."""
        try:
            self.cloud.start()
            if first_model:
                self.ensure_served_model()
            for model in other_models:
                self.ensure_served_model(model)
            self.start_functions(functions)
        except BaseException:
            self.stop()
            raise
        return self

    def ensure_served_model(self, model: str | None = None) -> ServedModel:
        """Train and promote a model (default: the system's own, then `self.served`) unless
        the registry serves one already."""
        with contextlib.closing(self.storage_client()) as client:
            served = ensure_served_model(client, self.config.bucket, model or self.model)
        if served.model == self.model:
            self.served = served
        return served

    def start_functions(
        self,
        functions: Iterable[str] | None = None,
        ports: Mapping[str, int] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> list[Function]:
        """Start functions of main.py (default: every one it exposes) at once, each on its
        port in ports (default: a free one), wait until each answers, then point the push
        subscriptions at them. env is added to self.env for these functions."""
        wanted = None if functions is None else set(functions)
        if wanted == set():
            return []  # nothing to start: main.py is not imported into this process
        chosen_ports = {name: (ports or {}).get(name) or free_port() for name in names.FUNCTIONS}
        exposed, _ = exposed_functions(chosen_ports)
        started = [f for f in exposed if wanted is None or f.name in wanted]
        for function in started:
            if port_in_use(LOOPBACK, function.port):
                raise LocalCloudError(
                    f"port {function.port} for {function.name} is taken (another make run?): "
                    f"stop it or set {function.name.upper()}_PORT"
                )
        deadline = time.monotonic() + FUNCTION_START_TIMEOUT
        for function in started:
            self._launch(function, env, function.name)
        for function in started:
            wait_until_serving(function, self.children[function.name], deadline)
        self.pushes = self.connect_pushes()
        return started

    def start_function(
        self,
        function: Function,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
        wait: bool = True,
    ) -> Child:
        """Start any function (one of main.py's, or another source: the bench's floors) and
        wait until it answers. name (default: function.name) is what the system calls it,
        so one function can run twice (say, with other settings); wait=False returns right
        after the spawn, to time a cold start."""
        child = self._launch(function, env, name or function.name)
        if wait:
            wait_until_serving(function, child, time.monotonic() + FUNCTION_START_TIMEOUT)
        return child

    def restart_function(self, name: str) -> Child:
        """Start function name again on its port, with its environment, after it stopped."""
        if name in self.cloud.pids():
            self.cloud.stop_child(name)
        return self.start_function(self.functions[name], self._function_env[name], name)

    def stop_function(self, name: str) -> None:
        self.cloud.stop_child(name)

    def stop_storage(self) -> None:
        """Cloud Storage down: every connection refused until start_storage()."""
        self.cloud.stop_child(FAKE_GCS_SERVER)

    def start_storage(self) -> None:
        """fake-gcs-server again on its port; its objects are back only with a storage_root."""
        self.cloud.start_storage()

    def frozen(self, part: str) -> contextlib.AbstractContextManager[None]:
        """part (FAKE_GCS_SERVER, the Pub/Sub emulator or a function) hung for a while."""
        return self.cloud.frozen(part)

    def worker_pids(self, function: str) -> list[int]:
        """The gunicorn workers of function: the children of its master process."""
        return process_children(self.children[function].pid)

    def kill_worker(self, function: str) -> int:
        """SIGKILL function's one worker mid-request; its master keeps the port and starts a
        new one, as a platform replaces a crashed instance behind its front end."""
        (worker,) = self.worker_pids(function)
        os.kill(worker, signal.SIGKILL)
        return worker

    def stop(self) -> None:
        """End every process this system started; a shared emulator keeps running."""
        self.cloud.stop()
        self.children.clear()

    # Using it.

    def url(self, function: str) -> str:
        return self.functions[function].url

    def storage_client(self) -> storage.Client:
        """A client of this system's storage; the caller closes it."""
        return self.cloud.storage_client()

    def registry(self, client: storage.Client) -> Registry:
        return Registry(client, self.config.bucket, timeout=5.0)

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        """Publish to topic (a name of docs/resources.md); the message id."""
        with self.cloud.pubsub_clients() as (publisher, _):
            future = publisher.publish(self.config.topic_path(topic), data, **attributes)
            return str(future.result(timeout=30))

    def publish_all(
        self, topic: str, messages: Iterable[tuple[bytes, Mapping[str, str]]]
    ) -> list[str]:
        """Publish every (data, attributes) to topic at once, then wait; the message ids."""
        with self.cloud.pubsub_clients() as (publisher, _):
            path = self.config.topic_path(topic)
            futures = [publisher.publish(path, data, **attrs) for data, attrs in messages]
            return [str(future.result(timeout=60)) for future in futures]

    def pull(
        self,
        subscription: str,
        count: int,
        timeout: float,
        keep: Callable[[Message], bool] | None = None,
    ) -> list[Message]:
        """Up to count messages of subscription (a name of docs/resources.md, or one made by
        add_subscription), pulled and acknowledged for at most timeout seconds."""
        with self.cloud.pubsub_clients() as (_, subscriber):
            return pull(
                subscriber, self.config.subscription_path(subscription), count, timeout, keep
            )

    def pull_json(self, subscription: str, count: int, timeout: float) -> list[dict[str, Any]]:
        """The data of pulled messages, decoded."""
        return [json.loads(m.data) for m in self.pull(subscription, count, timeout)]

    def add_topic(self, name: str) -> str:
        """A topic of one's own with no subscription, so nothing published to it is kept
        (left on a shared emulator); its id, as a function's environment names it."""
        with self.cloud.pubsub_clients() as (publisher, _):
            publisher.create_topic(name=self.config.topic_path(name))
        return self.config.resource(name)

    def add_subscription(self, topic: str, name: str | None = None) -> str:
        """A pull subscription of one's own on topic, to watch it; its name."""
        name = name or f"{topic}-watch-{uuid.uuid4().hex[:6]}"
        self.cloud.add_subscription(topic, name)
        return name

    def connect_pushes(self) -> list[PushSubscription]:
        """Point each push subscription at its function, if that function runs."""
        subscriptions = []
        for name, (topic, function_name) in names.PUSH_SUBSCRIPTIONS.items():
            if function_name in self.functions:
                subscriptions.append(self.push_to(name, function_name))
            else:
                dead_letter_topic = names.DEAD_LETTER_TOPICS.get(name)
                subscriptions.append(
                    PushSubscription(name, topic, function_name, None, dead_letter_topic)
                )
        return subscriptions

    def push_to(self, subscription: str, function: str) -> PushSubscription:
        """Point subscription (of names.PUSH_SUBSCRIPTIONS) at function, any this system
        runs (the bench points the stream's at its floor, then back)."""
        topic = names.PUSH_SUBSCRIPTIONS[subscription][0]
        dead_letter_topic = names.DEAD_LETTER_TOPICS.get(subscription)
        endpoint = self.functions[function].push_endpoint(
            self.config.project_id, self.config.resource(topic)
        )
        self.cloud.ensure_push_subscription(subscription, topic, endpoint, dead_letter_topic)
        return PushSubscription(subscription, topic, function, endpoint, dead_letter_topic)

    def _launch(self, function: Function, env: Mapping[str, str] | None, name: str) -> Child:
        function_env = {**self.env, **(env or {})}
        process = self.cloud.start_process(
            name, function.command(), env=function_env, cwd=REPOSITORY_ROOT
        )
        child = Child(name, process, self.cloud.log_path(name))
        self.functions[name] = function
        self.children[name] = child
        self._function_env[name] = function_env
        return child
