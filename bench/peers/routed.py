"""The load of bench/load.py, each server sent the one-instance request of its own protocol.

bench/single.py's measure (warm-up, trials in turn, medians) asks its load generator for
`server + /predict`; here `server` is a name, and Routed sends that server's own request
instead, so the three servers get exactly the load, trials and summary of make bench's
http_single. peers/post.lua runs bench/post.lua with the target's body. bench/families.py
loads each model family the same way (its pinned URL, a body of its width).
"""

from __future__ import annotations

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
            env = {"PEERS_POST_LUA": str(load.SCRIPT), "PEERS_BODY": target.body.decode()}
            return load.Wrk(self.wrk).run(target.url, connections, seconds, SCRIPT, env)
        measured = pyload.run(target.url, target.body, connections, seconds)
        return load.LoadResult(
            requests=len(measured.latencies),
            seconds=measured.seconds,
            p50_ms=measured.percentile_ms(50),
            p99_ms=measured.percentile_ms(99),
            errors=measured.errors,
        )
