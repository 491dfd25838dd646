"""What the benchmark runs against: a LocalCloud on free ports, a promoted model, and the
functions as production runs them (functions-framework, gunicorn with its defaults)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bench.floor import FLOOR_SOURCE
from infra import names
from infra.local.cloud import PUBSUB_EMULATOR, LocalCloud, free_port
from infra.local.processes import Child
from infra.local.seed import ensure_served_model
from infra.local.serving import REPOSITORY_ROOT, Function, start_function
from model.artifact import ModelArtifact
from model.registry import Registry

ROOT = REPOSITORY_ROOT
LOG_DIR = ROOT / ".local" / "bench" / "logs"  # git-ignored, like make run's logs
# The serving functions log every request to a topic of their own with no subscription: the
# publishing costs what it costs in production, and the emulator keeps nothing.
PREDICTION_LOG_TOPIC = "bench-prediction-log"
LOG_ON = {"PREDICTION_LOG_TOPIC": PREDICTION_LOG_TOPIC}
# The same predict_batch with the prediction log off, to measure what the log costs.
LOG_OFF = {**LOG_ON, "PREDICTION_LOG_SAMPLE_RATE": "0"}
# The niceness of the Pub/Sub emulator while one-instance requests are measured.
EMULATOR_NICE = 19


@dataclass(frozen=True)
class Server:
    function: Function
    child: Child

    @property
    def url(self) -> str:
        return self.function.url


@dataclass(frozen=True)
class Rig:
    cloud: LocalCloud
    model: ModelArtifact
    batch: Server
    floor: Server
    stream: Server
    stream_floor: Server
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


def predict_batch(port: int | None = None) -> Function:
    return Function("predict_batch", "http", port or free_port())


def start(
    cloud: LocalCloud,
    function: Function,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Server:
    """Start function as its own process group, which cloud.stop() ends, once it answers."""
    return Server(function, start_function(cloud, function, env=env or LOG_ON, name=name))


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
def pubsub_stopped(cloud: LocalCloud) -> Iterator[None]:
    """Freeze the Pub/Sub emulator (SIGSTOP) for a while: the prediction log's publishes hang
    and its records are dropped, so what is left of its cost is the function's own."""
    group = cloud.pids()[PUBSUB_EMULATOR]
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


@contextlib.contextmanager
def running() -> Iterator[Rig]:
    """The whole rig, stopped on exit (every process it started, and only those)."""
    with LocalCloud.on_free_ports(LOG_DIR) as cloud:
        client = cloud.storage_client()
        try:
            seeded = ensure_served_model(client, cloud.config.bucket, names.MODEL_NAME)
            model = Registry(client, cloud.config.bucket).load(names.MODEL_NAME, seeded.version)
        finally:
            client.close()
        with cloud.pubsub_clients() as (publisher, _):
            project = cloud.config.project_id
            publisher.create_topic(name=publisher.topic_path(project, PREDICTION_LOG_TOPIC))
        batch = start(cloud, predict_batch())
        floor = start(cloud, Function("floor", "http", free_port(), FLOOR_SOURCE))
        stream = start(cloud, Function("predict_stream", "cloudevent", free_port()))
        stream_floor = start(
            cloud, Function("stream_floor", "cloudevent", free_port(), FLOOR_SOURCE)
        )
        batch_log_off = start(cloud, predict_batch(), name="predict_batch_log_off", env=LOG_OFF)
        yield Rig(cloud, model, batch, floor, stream, stream_floor, batch_log_off)
