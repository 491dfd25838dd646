"""The load of bench/load.py, each server sent the one-instance request of its own protocol.

bench/single.py's measure (warm-up, trials in turn, medians) asks its load generator for
`server + /predict`; here `server` is a name, and Routed sends that server's own request
instead, so the three servers get exactly the load, trials and summary of make bench's
http_single. bench/load.py's Wrk only sends post.lua's body: peers/post.lua runs post.lua
with another body.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import load, pyload
from bench.single import PATH

SCRIPT = Path(__file__).with_name("post.lua")


@dataclass(frozen=True)
class Target:
    """One server's predict endpoint, and one instance in its protocol."""

    url: str
    body: bytes


class Routed:
    """A bench.load.LoadGenerator over named servers: run(name + /predict) loads that one."""

    def __init__(self, targets: Mapping[str, Target]) -> None:
        self.targets = dict(targets)
        generator = load.load_generator()  # wrk when installed, as make bench decides
        self.wrk = generator.binary if isinstance(generator, load.Wrk) else None

    def describe(self) -> dict[str, object]:
        if self.wrk is None:
            return load.PythonLoad().describe()
        return {**load.Wrk(self.wrk).describe(), "script": "peers/post.lua"}

    def run(self, url: str, connections: int, seconds: float) -> load.LoadResult:
        target = self.targets[url.removesuffix(PATH)]
        if self.wrk is not None:
            return _wrk(self.wrk, target, connections, seconds)
        measured = pyload.run(target.url, target.body, connections, seconds)
        return load.LoadResult(
            requests=len(measured.latencies),
            seconds=measured.seconds,
            p50_ms=measured.percentile_ms(50),
            p99_ms=measured.percentile_ms(99),
            errors=measured.errors,
        )


def _wrk(binary: str, target: Target, connections: int, seconds: float) -> load.LoadResult:
    """bench/load.py's Wrk.run, with peers/post.lua and the target's body."""
    whole = max(1, round(seconds))
    command = [binary, f"-t{load.WRK_THREADS}", f"-c{connections}", f"-d{whole}s"]
    command += ["--timeout", "10s", "-s", str(SCRIPT), target.url]
    env = {**os.environ, "PEERS_POST_LUA": str(load.SCRIPT), "PEERS_BODY": target.body.decode()}
    finished = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=whole + 30, env=env
    )
    marker = "BENCH_RESULT "  # the line post.lua's done() prints
    for line in finished.stdout.splitlines():
        if line.startswith(marker):
            found = json.loads(line.removeprefix(marker))
            return load.LoadResult(
                requests=found["requests"],
                seconds=found["duration_us"] / 1e6,
                p50_ms=found["p50_us"] / 1000,
                p99_ms=found["p99_us"] / 1000,
                errors=found["errors"] + found["non_2xx"],
            )
    raise RuntimeError(f"wrk printed no result: {finished.stdout!r} {finished.stderr!r}")
