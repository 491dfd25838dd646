"""The entry points of main.py as functions-framework processes, and the pushes that feed them.

A function is started only if main.py exposes it, so the launcher follows main.py as entry
points are added; a push subscription of names.PUSH_SUBSCRIPTIONS is created once the
function it feeds runs.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra import names
from infra.local.errors import LocalCloudError
from infra.local.processes import LOOPBACK, Child, last_log_line, wait_http_ok

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_START_TIMEOUT = 60.0  # imports numpy and friends on a busy 2-core machine; ~2 s usually
# How to tell a function is up without invoking it: a path that answers 200, else any answer
# to /robots.txt (a 404: main.py's functions route it to predict_batch's answer, the
# bench's floors to the framework's).
HEALTH_PATHS = {"predict_batch": "/health", "monitor_drift": "/health"}
_PROBE_PATH = "/robots.txt"


@dataclass(frozen=True)
class Function:
    """A function (an entry point of main.py, by default) and where it listens locally."""

    name: str
    signature_type: str
    port: int
    source: str = "main.py"  # relative to the repository, as Cloud Functions' --source

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        return [
            *_functions_framework(),
            f"--target={self.name}",
            f"--signature-type={self.signature_type}",
            f"--host={LOOPBACK}",
            f"--port={self.port}",
            f"--source={REPOSITORY_ROOT / self.source}",
        ]

    def push_endpoint(self, project: str, topic: str) -> str:
        return push_endpoint(self.url, project, topic)


def push_endpoint(function_url: str, project: str, topic: str) -> str:
    """Where a push subscription of topic delivers to an event function: the path is the
    topic's resource name, from which functions-framework makes the CloudEvent's source."""
    return f"{function_url}/projects/{project}/topics/{topic}"


@dataclass(frozen=True)
class PushSubscription:
    name: str
    topic: str
    function: str
    endpoint: str | None  # None while its function is not in main.py
    dead_letter_topic: str | None


def exposed_functions(ports: Mapping[str, int]) -> tuple[list[Function], list[str]]:
    """The functions of names.FUNCTIONS that main.py exposes, and the names of the others."""
    try:
        # importlib, so mypy does not type-check the functions as part of infra.
        main = importlib.import_module("main")
    except Exception as error:
        raise LocalCloudError(
            f"main.py does not import: {type(error).__name__}: {error}"
        ) from error
    exposed, missing = [], []
    for name, (signature_type, _) in names.FUNCTIONS.items():
        if hasattr(main, name):
            exposed.append(Function(name, signature_type, ports[name]))
        else:
            missing.append(name)
    return exposed, missing


def wait_until_serving(function: Function, child: Child, deadline: float) -> None:
    """Until function answers (its health path with 200, else anything); LocalCloudError
    with its last log line if it exits or the deadline passes first."""
    health = HEALTH_PATHS.get(function.name)
    url = function.url + (health or _PROBE_PATH)
    try:
        wait_http_ok(
            url, max(deadline - time.monotonic(), 1.0), child.process, any_status=health is None
        )
    except LocalCloudError as error:
        raise LocalCloudError(
            f"{function.name}: {error}; {last_log_line(child.log_path)} (log: {child.log_path})"
        ) from error


def _functions_framework() -> list[str]:
    """The venv's functions-framework script, next to this interpreter."""
    script = Path(sys.executable).with_name("functions-framework")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "functions_framework"]
