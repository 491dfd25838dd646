"""What the numbers were measured on: the machine, the versions and the load generator."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

from bench.rig import ROOT


def describe(load_generator: dict[str, object], server: dict[str, object]) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": metadata.version("numpy"),
        "orjson": metadata.version("orjson"),
        "functions_framework": metadata.version("functions-framework"),
        "gunicorn": metadata.version("gunicorn"),
        "flask": metadata.version("flask"),
        "server": server,
        "load_generator": load_generator,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "git_commit": _git_commit(),
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    """HEAD, with "+dirty" when the work tree has changes: which code was measured."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")
