"""What the benchmark runs against: a LocalSystem on free ports with its first model, and the
servers it measures, as production runs them (functions-framework's ASGI server: gunicorn
with one uvicorn worker)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata

from bench.floor import FLOOR_SOURCE
from infra.local.cloud import PUBSUB_EMULATOR
from infra.local.processes import free_port
from infra.local.serving import REPOSITORY_ROOT, Function
from infra.local.system import LocalSystem
from model.artifact import ModelArtifact
from model.training_settings import read_settings, write_settings

ROOT = REPOSITORY_ROOT
LOG_DIR = ROOT / ".local" / "bench" / "logs"  # git-ignored, like make run's logs
# The serving functions log every request to a topic of their own with no subscription: the
# publishing costs what it costs in production, and the emulator keeps nothing.
PREDICTION_LOG_TOPIC = "bench-prediction-log"
# The servers, each a child of the system by its name: name -> (function, signature type,
# source). predict_batch runs three times: as shipped, with the prediction log off (what the
# log costs) and with every request answered on the event loop (what offloading saves). The
# floors are bench/floor.py's (`floor` on the ASGI server the functions run on,
# `flask_floor` on the framework's Flask server, for the record) and, for the stream's
# correct floor, bench/correct_floor.py's.
SERVERS = {
    "predict_batch": ("predict_batch", "http", "main.py"),
    "floor": ("floor", "http", FLOOR_SOURCE),
    "flask_floor": ("flask_floor", "http", FLOOR_SOURCE),
    "correct_floor": ("correct_floor", "http", FLOOR_SOURCE),
    "predict_stream": ("predict_stream", "http", "main.py"),
    "stream_floor": ("stream_floor", "http", FLOOR_SOURCE),
    "stream_correct_floor": ("stream_correct_floor", "http", "bench/correct_floor.py"),
    "predict_batch_log_off": ("predict_batch", "http", "main.py"),
    "predict_batch_on_loop": ("predict_batch", "http", "main.py"),
}
# The servers with settings of their own: the log off; every request on the event loop.
SETTINGS = {
    "predict_batch_log_off": {"PREDICTION_LOG_SAMPLE_RATE": "0"},
    "predict_batch_on_loop": {"OFFLOAD_BYTES": str(2**62)},
}
# The niceness of the Pub/Sub emulator while one-instance requests are measured.
EMULATOR_NICE = 19


@dataclass(frozen=True)
class Rig:
    system: LocalSystem  # every server in SERVERS runs, under its name
    model: ModelArtifact


def server_settings(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """The server as functions-framework 3.x runs an ASGI function (WORKERS), with the event
    loop and HTTP parser uvicorn picks up."""
    env = os.environ if env is None else env
    return {
        "server": "gunicorn + uvicorn worker (functions-framework's ASGI path)",
        "worker_class": "uvicorn_worker.UvicornWorker",
        "workers": int(env.get("WORKERS", 1)),
        "loop": "uvloop " + metadata.version("uvloop"),
        "http": "httptools " + metadata.version("httptools"),
        "timeout": int(env.get("CLOUD_RUN_TIMEOUT_SECONDS", 0)),
    }


@contextlib.contextmanager
def pubsub_elsewhere(system: LocalSystem) -> Iterator[int]:
    """Run the Pub/Sub emulator at the lowest CPU priority for a while.

    In the cloud, Pub/Sub's work is not done on the function's instance; here the emulator
    (a JVM spending about 35 µs of CPU per message it stores) shares the two cores with the
    function and wrk. At the lowest priority it takes only CPU they leave idle, so the
    figures show what logging costs the function itself: its request path, its background
    thread and its gRPC publishing, all at normal priority.
    """
    group = system.cloud.pids()[PUBSUB_EMULATOR]  # its own process group: JVM and wrapper
    os.setpriority(os.PRIO_PGRP, group, EMULATOR_NICE)
    try:
        yield EMULATOR_NICE
    finally:
        with contextlib.suppress(PermissionError):  # lowering the niceness needs root
            os.setpriority(os.PRIO_PGRP, group, 0)


@contextlib.contextmanager
def running() -> Iterator[Rig]:
    """The whole rig, stopped on exit (every process it started, and only those)."""
    with LocalSystem.on_free_ports(LOG_DIR) as system:
        system.start(functions=(), first_model=False)
        served = system.ensure_served_model()
        with contextlib.closing(system.storage_client()) as client:
            registry = system.registry(client)
            model = registry.load(system.model, served.version)
            # The first model takes labels (infra/local/first_model.py), so every instance it
            # answers is logged; the bench measures a model's default, sampled log, as its
            # figures always have (docs/performance.md).
            settings = read_settings(registry, system.model)
            write_settings(registry, system.model, settings.changed(feedback=False))
        system.env["PREDICTION_LOG_TOPIC"] = system.add_topic(PREDICTION_LOG_TOPIC)
        for name, (function, signature_type, source) in SERVERS.items():
            server = Function(function, signature_type, free_port(), source)
            system.start_function(server, SETTINGS.get(name), name)
        yield Rig(system, model)
