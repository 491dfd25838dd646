"""Cloud Storage down while a predict_batch process starts cold: fake-gcs-server's process
group is stopped (SIGSTOP: connections are accepted by the kernel and never answered, as a
hung backend would), a new predict_batch process starts on a free port under load, then
storage resumes (SIGCONT, objects intact) and the same process must recover by itself."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from infra.local.cloud import FAKE_GCS_SERVER, free_port
from infra.local.serving import Function, start_function
from soak.batch_traffic import Answer, BatchTraffic
from soak.system import System

COLD = "predict_batch_cold"
_RECOVERY_TIMEOUT = 60.0
_AFTER_RECOVERY_SECONDS = 2.0


@dataclass(frozen=True)
class Outage:
    answers: list[Answer]  # of the cold process, during and after the outage
    resumed_at: float
    recovered_at: float | None  # when the cold process first served after storage resumed
    pid_before: int
    workers_before: list[int]
    pid_after: int
    workers_after: list[int]
    alive_after: bool

    @property
    def during(self) -> list[Answer]:
        return [a for a in self.answers if a.received < self.resumed_at]

    @property
    def after_recovery(self) -> list[Answer]:
        if self.recovered_at is None:
            return []
        return [a for a in self.answers if a.sent > self.recovered_at]


@contextlib.contextmanager
def storage_stopped(system: System) -> Iterator[Callable[[], float]]:
    """fake-gcs-server frozen from now; yields resume(), which continues it and says when.
    It is resumed at the end whatever happens."""
    group = system.cloud.pids()[FAKE_GCS_SERVER]  # the leader of its own process group
    os.killpg(group, signal.SIGSTOP)
    resumed: list[float] = []

    def resume() -> float:
        if not resumed:
            os.killpg(group, signal.SIGCONT)
            resumed.append(time.time())
        return resumed[0]

    try:
        yield resume
    finally:
        resume()


def cold_start_while_down(system: System, down_seconds: float, workers: int) -> Outage:
    """Start a fresh predict_batch with storage stopped, load it for down_seconds, resume
    storage and keep the load until it serves again (or the recovery timeout)."""
    function = Function("predict_batch", "http", free_port())
    recovered_at: float | None = None
    with storage_stopped(system) as resume:
        child = start_function(system.cloud, function, env=system.env, name=COLD)
        system.children[COLD] = child  # stopped with the rest of the system
        pid_before, workers_before = child.pid, system.worker_pids(COLD)
        with BatchTraffic(function.url, workers) as traffic:
            traffic.wait_until(time.time() + down_seconds)
            resumed_at = resume()
            with contextlib.suppress(TimeoutError):  # recovered_at stays None: a miss
                recovered = traffic.wait_for(
                    lambda a: a.served and a.sent >= resumed_at, _RECOVERY_TIMEOUT, "served"
                )
                recovered_at = recovered.received
                traffic.wait_until(time.time() + _AFTER_RECOVERY_SECONDS)
    return Outage(
        answers=traffic.answers,
        resumed_at=resumed_at,
        recovered_at=recovered_at,
        pid_before=pid_before,
        workers_before=workers_before,
        pid_after=child.pid,
        workers_after=system.worker_pids(COLD),
        alive_after=child.exit_code() is None,
    )
