"""What the benchmark runs against: a LocalCloud on free ports, a promoted model, and the
functions as production runs them (functions-framework, gunicorn with its defaults)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from infra import names
from infra.local.cloud import LocalCloud, free_port
from infra.local.processes import Child
from infra.local.seed import ensure_served_model
from infra.local.serving import REPOSITORY_ROOT, Function, start_function
from model.artifact import ModelArtifact
from model.registry import Registry

ROOT = REPOSITORY_ROOT
LOG_DIR = ROOT / ".local" / "bench" / "logs"  # git-ignored, like make run's logs
FLOOR_SOURCE = "bench/floor.py"


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


def start(cloud: LocalCloud, function: Function, name: str | None = None) -> Server:
    """Start function as its own process group, which cloud.stop() ends, once it answers."""
    return Server(function, start_function(cloud, function, name=name))


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
        batch = start(cloud, predict_batch())
        floor = start(cloud, Function("floor", "http", free_port(), FLOOR_SOURCE))
        stream = start(cloud, Function("predict_stream", "cloudevent", free_port()))
        stream_floor = start(
            cloud, Function("stream_floor", "cloudevent", free_port(), FLOOR_SOURCE)
        )
        yield Rig(cloud, model, batch, floor, stream, stream_floor)
