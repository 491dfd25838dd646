"""Child processes in their own process groups, and loopback HTTP probes for their readiness.

Every child runs in its own process group with its output in a log file, so terminate() ends
the whole tree (gcloud's wrapper and its JVM, gunicorn's master and workers alike) and a
chatty child never blocks on a full pipe. Stdlib only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.http_client import http_get
from infra.local.errors import LocalCloudError

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# urllib would route loopback traffic through an http_proxy from the environment.


@dataclass(frozen=True)
class Child:
    """A started process, the name it goes by and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        """Its exit code once it has exited (negative: killed by that signal), else None."""
        return self.process.poll()


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
) -> Child:
    """Start argv in a new process group, stdout and stderr into log_path (truncated)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The child keeps its own copy of the descriptor: closing ours is safe.
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - argv is the launcher's own, no shell
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,  # its own process group, out of reach of Ctrl-C
        )
    return Child(name, process, log_path)


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group, SIGKILL it after timeout, and reap the leader."""
    group = process.pid  # start_new_session made the child its group's leader
    signal_group(group, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("pid %d ignored SIGTERM for %g s; killing it", group, timeout)
        signal_group(group, signal.SIGKILL)
        process.wait(timeout)
    # A grandchild (gcloud's JVM, a gunicorn worker) may outlive its parent; it must not
    # keep the port.
    signal_group(group, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while group_exists(group) and time.monotonic() < deadline:
        time.sleep(0.02)  # init reaps the orphaned grandchild


def group_exists(group: int) -> bool:
    """Whether any process is left in the process group."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, though not ours to signal
    return True


def process_children(pid: int) -> list[int]:
    """The process ids of pid's children (a gunicorn master's workers)."""
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:
        return []


def last_log_line(path: Path) -> str:
    """The last line a child wrote, for an error message."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return f"last log line: {lines[-1].strip()}" if lines else "empty log"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_http_ok(
    url: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    any_status: bool = False,
) -> None:
    """Poll url until it answers 200 (any status with any_status); fail early if process
    (the server) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        answer = http_get(url)
        if answer is not None and (any_status or answer[0] == 200):
            return
        if process is not None and process.poll() is not None:
            raise LocalCloudError(
                f"{url}: the server exited with code {process.returncode} before answering"
            )
        if time.monotonic() >= deadline:
            wanted = "answer" if any_status else "answer 200"
            raise LocalCloudError(f"{url} did not {wanted} within {timeout:g} s")
        time.sleep(0.05)


def exit_promptly(code: int, grace_seconds: float = 5.0) -> None:
    """sys.exit(code), or os._exit after grace_seconds: the gRPC threads of Pub/Sub and
    Storage clients, even closed, can keep an interpreter from exiting."""
    sys.stdout.flush()
    sys.stderr.flush()
    watchdog = threading.Timer(grace_seconds, os._exit, (code,))
    watchdog.daemon = True
    watchdog.start()
    sys.exit(code)


def signal_group(group: int, signum: signal.Signals) -> None:
    """Send signum to every process of group, if any is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)
