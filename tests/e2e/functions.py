"""Run a function as production does: its own functions-framework process."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from infra.local.cloud import LocalCloud, free_port, wait_http_ok
from infra.local.serving import REPOSITORY_ROOT as ROOT
from infra.local.serving import Function


@dataclass
class FunctionProcess:
    """A functions-framework process that a test may kill and start again on its port."""

    manager: LocalCloud
    target: str
    signature_type: str
    env: Mapping[str, str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def function(self) -> Function:
        return Function(self.target, self.signature_type, self.port)

    @property
    def url(self) -> str:
        return self.function.url

    def start(self) -> FunctionProcess:
        self.port = self.port or free_port()
        self.starts += 1
        self.process = self.manager.start_process(
            f"{self.target}-{self.starts}", self.function.command(), env=self.env, cwd=ROOT
        )
        # Any answer means the server is up (a CloudEvent function answers GET with 4xx).
        wait_http_ok(self.url, timeout=60, process=self.process, any_status=True)
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown, requests in flight lost."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        )
        return [int(pid) for pid in found.stdout.split()]

    def kill_worker(self) -> int:
        """SIGKILL the gunicorn worker that runs the function, mid-request; its master keeps
        the port open and starts a new worker, as a serverless platform replaces a crashed
        instance behind a front end that never refuses connections."""
        assert self.process is not None
        (worker,) = self.worker_pids()
        os.kill(worker, signal.SIGKILL)
        return worker
