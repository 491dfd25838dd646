"""The system a scenario drives: a local cloud on free ports, the first model promoted, and
every function of main.py as production runs it (functions-framework, gunicorn), with its
push subscriptions and dead-letter topics. Each scenario gets its own, stopped at its end.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import names
from infra.local.cloud import LocalCloud, free_port
from infra.local.processes import Child
from infra.local.seed import SeedOutcome, ensure_served_model
from infra.local.serving import (
    REPOSITORY_ROOT,
    Function,
    ensure_push_subscriptions,
    exposed_functions,
    start_function,
)
from infra.pulling import pull
from soak import resources

LOG_ROOT = REPOSITORY_ROOT / ".local" / "soak"  # git-ignored, like make run's logs


@dataclass(frozen=True)
class System:
    cloud: LocalCloud
    seeded: SeedOutcome
    functions: dict[str, Function]
    children: dict[str, Child]
    env: dict[str, str]  # what the functions were started with, beyond the cloud's env()
    sampler: resources.Sampler | None = None  # samples every function's processes each second

    @property
    def model_name(self) -> str:
        return self.seeded.model

    def url(self, function: str) -> str:
        return self.functions[function].url

    def restart(self, function: str) -> Child:
        """Start function again on its port (after its process group was ended)."""
        child = start_function(self.cloud, self.functions[function], env=self.env, name=function)
        self.children[function] = child
        return child

    def model_events(
        self, count: int, timeout: float, keep: Callable[[dict[str, Any]], bool]
    ) -> list[dict[str, Any]]:
        """Up to count events of model-events that keep accepts, pulled for at most timeout."""
        project = self.cloud.config.project_id
        subscription = f"projects/{project}/subscriptions/{names.MODEL_EVENTS_SUB}"
        with self.cloud.pubsub_clients() as (_, subscriber):
            messages = pull(
                subscriber, subscription, count, timeout, keep=lambda m: keep(json.loads(m.data))
            )
        return [json.loads(message.data) for message in messages]

    def worker_pids(self, function: str) -> list[int]:
        """The gunicorn workers of function: the children of its master process."""
        master = self.children[function].pid
        try:
            text = Path(f"/proc/{master}/task/{master}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]


@contextlib.contextmanager
def running(
    scenario: str,
    env: Mapping[str, str] | None = None,
    only: tuple[str, ...] | None = None,
    storage_root: Path | None = None,
) -> Iterator[System]:
    """The whole system for one scenario (its logs in .local/soak/SCENARIO/), stopped on exit.

    env reaches every function (e.g. MODEL_REFRESH_SECONDS); only limits which functions
    start (default: all that main.py exposes); storage_root keeps Cloud Storage's objects on
    disk there (default: in memory), so they outlive a restart of fake-gcs-server.
    """
    log_dir = LOG_ROOT / scenario
    with LocalCloud.on_free_ports(log_dir, storage_root=storage_root) as cloud:
        client = cloud.storage_client()
        try:
            seeded = ensure_served_model(client, cloud.config.bucket, names.MODEL_NAME)
        finally:
            client.close()
        ports = {name: free_port() for name in names.FUNCTIONS}
        exposed, _ = exposed_functions(ports)
        functions = {f.name: f for f in exposed if only is None or f.name in only}
        function_env = {"MODEL_NAME": seeded.model, "PYTHONUNBUFFERED": "1", **(env or {})}
        children = {
            name: start_function(cloud, function, env=function_env)
            for name, function in functions.items()
        }
        ensure_push_subscriptions(cloud, functions)
        # Every scenario's functions are sampled, whatever it does (figures["resources"]).
        with resources.Sampler(children) as sampler:
            try:
                yield System(cloud, seeded, functions, children, function_env, sampler)
            finally:
                resources.record(scenario, sampler.samples())
