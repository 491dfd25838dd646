"""What the benchmark runs against: a LocalCloud on free ports, a promoted model, and the
functions as production runs them (functions-framework, gunicorn with its defaults)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from infra import names
from infra.local.cloud import PUBSUB_EMULATOR, LocalCloud, free_port, wait_http_ok
from model.artifact import ModelArtifact

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / ".local" / "bench" / "logs"  # git-ignored, like make run's logs
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Function:
    """A function of a source file, as functions-framework serves it."""

    target: str
    source: str  # relative to ROOT, as production's --source=main.py
    signature_type: str = "http"
    ready_path: str = "/"  # answers once the server is up; any status will do

    def command(self, port: int) -> list[str]:
        return [
            str(Path(sys.executable).with_name("functions-framework")),
            f"--target={self.target}",
            f"--signature-type={self.signature_type}",
            f"--source={self.source}",
            "--host=127.0.0.1",
            f"--port={port}",
        ]


PREDICT_BATCH = Function("predict_batch", "main.py", ready_path="/health")
PREDICT_STREAM = Function("predict_stream", "main.py", signature_type="cloudevent")
FLOOR = Function("floor", "bench/floor.py")
# The serving functions log every request to a topic of their own with no subscription: the
# publishing costs what it costs in production, and the emulator keeps nothing.
PREDICTION_LOG_TOPIC = "bench-prediction-log"
LOG_ON = {"PREDICTION_LOG_TOPIC": PREDICTION_LOG_TOPIC}
# The same predict_batch with the prediction log off, to measure what the log costs.
LOG_OFF = {**LOG_ON, "PREDICTION_LOG_SAMPLE_RATE": "0"}


@dataclass(frozen=True)
class Server:
    function: Function
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Rig:
    cloud: LocalCloud
    model: ModelArtifact
    batch: Server
    floor: Server
    stream: Server
    batch_log_off: Server


def server_settings(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """gunicorn's settings as functions-framework 3.x derives them (WORKERS, THREADS)."""
    env = os.environ if env is None else env
    cores = os.cpu_count() or 1
    return {
        "server": "gunicorn (functions-framework default)",
        "worker_class": "gthread",
        "workers": int(env.get("WORKERS", 1)),
        "threads": int(env.get("THREADS", cores * 4)),
        "timeout": int(env.get("CLOUD_RUN_TIMEOUT_SECONDS", 0)),
    }


def start(
    manager: LocalCloud,
    function: Function,
    name: str,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Server:
    """Start function as its own process group, which manager.stop() ends."""
    port = port or free_port()
    process = manager.start_process(name, function.command(port), env=env or LOG_ON, cwd=ROOT)
    return Server(function, port, process)


def wait_ready(server: Server) -> None:
    url = server.url + server.function.ready_path
    wait_http_ok(url, START_TIMEOUT, server.process, any_status=True)


def seed_model(cloud: LocalCloud) -> ModelArtifact:
    """Train the seed model on the bundled data and promote it, as a first make run does."""
    from model.dataset import load_diabetes
    from model.pipeline import train_register_promote
    from model.registry import Registry

    registry = Registry(cloud.storage_client(), cloud.config.bucket)
    outcome = train_register_promote(registry, load_diabetes(), names.MODEL_NAME)
    if not outcome.promoted:
        raise RuntimeError(f"the seed model was not promoted: {outcome.decision.reasons}")
    return outcome.model


# The niceness of the Pub/Sub emulator while one-instance requests are measured.
EMULATOR_NICE = 19


@contextlib.contextmanager
def pubsub_elsewhere(cloud: LocalCloud) -> Iterator[int]:
    """Run the Pub/Sub emulator at the lowest CPU priority for a while.

    In the cloud, Pub/Sub's work is not done on the function's instance; here the emulator
    (a JVM spending about 35 µs of CPU per message it stores) shares the two cores with the
    function and wrk. At the lowest priority it takes only CPU they leave idle, so the
    figures show what logging costs the function itself: its request path, its background
    thread and its gRPC publishing, all at normal priority.
    """
    group = cloud.pids()[PUBSUB_EMULATOR]  # its own process group: the JVM and its wrapper
    os.setpriority(os.PRIO_PGRP, group, EMULATOR_NICE)
    try:
        yield EMULATOR_NICE
    finally:
        with contextlib.suppress(PermissionError):  # lowering the niceness needs root
            os.setpriority(os.PRIO_PGRP, group, 0)


@contextlib.contextmanager
def running() -> Iterator[Rig]:
    """The whole rig, stopped on exit (every process it started, and only those)."""
    with LocalCloud.on_free_ports(LOG_DIR) as cloud:
        model = seed_model(cloud)
        with cloud.pubsub_clients() as (publisher, _):
            project = cloud.config.project_id
            publisher.create_topic(name=publisher.topic_path(project, PREDICTION_LOG_TOPIC))
        servers = [
            start(cloud, function, function.target)
            for function in (PREDICT_BATCH, FLOOR, PREDICT_STREAM)
        ]
        servers.append(start(cloud, PREDICT_BATCH, "predict_batch_log_off", env=LOG_OFF))
        for server in servers:
            wait_ready(server)
        batch, floor, stream, batch_log_off = servers
        cloud.ensure_push_subscription(
            names.PREDICTION_REQUESTS_PUSH,
            names.PREDICTION_REQUESTS,
            f"{stream.url}/projects/{cloud.config.project_id}/topics/{names.PREDICTION_REQUESTS}",
            dead_letter_topic=names.PREDICTION_DEAD_LETTER,
        )
        yield Rig(cloud, model, batch, floor, stream, batch_log_off)
