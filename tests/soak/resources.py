"""What each function's processes hold while a scenario runs: resident memory, open file
descriptors and threads, sampled once a second from /proc.

A function runs as a process group (functions-framework's gunicorn master, its leader, and
its workers): every process of the group is sampled, so a replaced worker is too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.processes import Child

INTERVAL = 1.0  # seconds between samples
_PROC = Path("/proc")


@dataclass(frozen=True)
class Sample:
    seconds: float  # since sampling began
    function: str
    pid: int
    role: str  # master or worker
    rss_kib: int
    fds: int
    threads: int


def group_pids(leader: int) -> list[int]:
    """Every process in the process group led by leader, leader first."""
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name, in parentheses, may hold spaces: the fields follow the ")".
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == leader:
            found.append(int(entry.name))
    return sorted(found, key=lambda pid: pid != leader)


def measure(pid: int) -> tuple[int, int, int] | None:
    """(VmRSS in KiB, open fds, threads) of pid; None when it is gone or a zombie."""
    try:
        status = (_PROC / str(pid) / "status").read_text()
        fds = len(os.listdir(_PROC / str(pid) / "fd"))
    except OSError:
        return None
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in values:
        return None
    return int(values["VmRSS"].split()[0]), fds, int(values["Threads"])


class Sampler:
    """Samples the process groups of functions (name → the child leading its group, read
    afresh each second, so a restarted function is followed) on a thread of its own."""

    def __init__(self, functions: Mapping[str, Child]) -> None:
        self._functions = functions
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._began = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5 * INTERVAL)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def elapsed(self) -> float:
        return time.monotonic() - self._began

    def _run(self) -> None:
        while not self._stop.is_set():
            seconds = self.elapsed()
            taken = []
            for function, leader in list(self._functions.items()):
                for pid in group_pids(leader.pid):
                    if (measured := measure(pid)) is not None:
                        role = "master" if pid == leader.pid else "worker"
                        taken.append(Sample(seconds, function, pid, role, *measured))
            with self._lock:
                self._samples += taken
            self._stop.wait(INTERVAL)


def by_process(samples: Iterable[Sample]) -> dict[tuple[str, int], list[Sample]]:
    """The samples of each (function, pid), in the order they were taken."""
    grouped: dict[tuple[str, int], list[Sample]] = {}
    for sample in samples:
        grouped.setdefault((sample.function, sample.pid), []).append(sample)
    return grouped


def summary(samples: list[Sample], warmup_end: float | None = None) -> dict[str, Any]:
    """Per function, per process ("ROLE PID"): samples, RSS first/max/last (MiB), fds and
    threads min/max/last; with warmup_end, also the RSS of the first sample at or after it."""
    figures: dict[str, Any] = {}
    for (function, pid), taken in sorted(by_process(samples).items()):
        process: dict[str, Any] = {"samples": len(taken), "rss_mib_first": _mib(taken[0])}
        if warmup_end is not None:
            after = [s for s in taken if s.seconds >= warmup_end]
            process["rss_mib_warmup_end"] = _mib(after[0]) if after else None
        process |= {
            "rss_mib_max": _mib(max(taken, key=lambda s: s.rss_kib)),
            "rss_mib_last": _mib(taken[-1]),
            "fds": _range(s.fds for s in taken),
            "threads": _range(s.threads for s in taken),
        }
        figures.setdefault(function, {})[f"{taken[0].role} {pid}"] = process
    return figures


def _range(values: Iterable[int]) -> dict[str, int]:
    taken = list(values)
    return {"min": min(taken), "max": max(taken), "last": taken[-1]}


def _mib(sample: Sample) -> float:
    return round(sample.rss_kib / 1024, 1)
