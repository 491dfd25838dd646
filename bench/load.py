"""One-instance POST load: wrk with bench/post.lua, or a Python client when wrk is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench import pyload

SCRIPT = Path(__file__).with_name("post.lua")
BODY = b'{"instances": [[0.05]]}'  # the body post.lua sends
# wrk's event loop is one thread: enough for a one-worker Python server, and it leaves the
# second core to the server.
WRK_THREADS = 1
_MARKER = "BENCH_RESULT "
# BENCH_LOAD=python forces the fallback client, to compare the two.
_FORCE_ENV = "BENCH_LOAD"


@dataclass(frozen=True)
class LoadResult:
    """One timed run at a fixed number of connections."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # failed connections, reads, writes, timeouts and non-2xx answers

    @property
    def req_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class LoadGenerator(Protocol):
    def describe(self) -> dict[str, object]: ...

    def run(self, url: str, connections: int, seconds: float) -> LoadResult: ...


class Wrk:
    """wrk: a C event loop, a keep-alive connection per concurrent client."""

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def describe(self) -> dict[str, object]:
        # `wrk -v` prints its version and exits non-zero.
        shown = subprocess.run([self.binary, "-v"], capture_output=True, text=True, check=False)
        version = (shown.stdout or shown.stderr).split("Copyright")[0].strip()
        return {"name": "wrk", "version": version, "threads": WRK_THREADS, "script": SCRIPT.name}

    def run(
        self,
        url: str,
        connections: int,
        seconds: float,
        script: Path = SCRIPT,
        env: Mapping[str, str] | None = None,
    ) -> LoadResult:
        """script: post.lua, or one that runs it with another body (bench/peers)."""
        whole = max(1, round(seconds))  # wrk takes whole seconds only
        command = [self.binary, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{whole}s"]
        command += ["--timeout", "10s", "-s", str(script), url]
        finished = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
            timeout=whole + 30,
            env=None if env is None else {**os.environ, **env},
        )
        for line in finished.stdout.splitlines():
            if line.startswith(_MARKER):
                found = json.loads(line.removeprefix(_MARKER))
                return LoadResult(
                    requests=found["requests"],
                    seconds=found["duration_us"] / 1e6,
                    p50_ms=found["p50_us"] / 1000,
                    p99_ms=found["p99_us"] / 1000,
                    errors=found["errors"] + found["non_2xx"],
                )
        raise RuntimeError(f"wrk printed no result: {finished.stdout!r} {finished.stderr!r}")


class PythonLoad:
    """The fallback: asyncio streams, one keep-alive connection per concurrent client."""

    def describe(self) -> dict[str, object]:
        return {"name": "python-asyncio", "version": "bench.pyload", "threads": 1}

    def run(self, url: str, connections: int, seconds: float) -> LoadResult:
        measured = pyload.run(url, BODY, connections, seconds)
        return LoadResult(
            requests=len(measured.latencies),
            seconds=measured.seconds,
            p50_ms=measured.percentile_ms(50),
            p99_ms=measured.percentile_ms(99),
            errors=measured.errors,
        )


def load_generator() -> LoadGenerator:
    """wrk when it is installed (make bench installs it), else the Python client."""
    binary = shutil.which("wrk")
    if binary is None or os.environ.get(_FORCE_ENV) == "python":
        return PythonLoad()
    return Wrk(binary)
