"""The real command line against a soak scenario's system."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from infra.local.serving import REPOSITORY_ROOT
from infra.local.system import LocalSystem


def mlctl(system: LocalSystem, *arguments: str) -> dict[str, Any]:
    """Run `python -m mlctl` with the system's environment; its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "mlctl", *arguments],
        cwd=REPOSITORY_ROOT,
        env={**os.environ, **system.cloud.env(), "MODEL_NAME": system.model},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"mlctl {' '.join(arguments)}: {done.stderr.strip()[-500:]}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
