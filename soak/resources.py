"""What each function's processes hold while a scenario runs: resident memory, open file
descriptors and threads, sampled once a second from /proc.

A function runs as a process group (functions-framework's gunicorn master, which
`spawn` made the group's leader, and its workers); every process of the group is sampled,
so a restarted function's new processes are too. `soak.system.running` samples every
scenario; `take_summaries` hands `soak.__main__` what was sampled since it last asked.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

INTERVAL = 1.0  # seconds between samples
_PROC = Path("/proc")
_summaries: dict[str, dict[str, Any]] = {}  # by running()'s scenario name, until taken


class _Process(Protocol):
    @property
    def pid(self) -> int: ...


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
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name, in parentheses, may hold spaces: the fields follow the last ")".
        fields = stat.rpartition(")")[2].split()
        if int(fields[2]) == leader:
            found.append(int(entry.name))
    return sorted(found, key=lambda pid: pid != leader)


def measure(pid: int) -> tuple[int, int, int] | None:
    """(VmRSS in KiB, open fds, threads) of pid; None when it is gone."""
    try:
        status = (_PROC / str(pid) / "status").read_text()
        fds = len(os.listdir(_PROC / str(pid) / "fd"))
    except OSError:
        return None
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in values:
        return None  # a zombie
    return int(values["VmRSS"].split()[0]), fds, int(values["Threads"])


class Sampler:
    """Samples the process groups of functions (name → a process leading its group, read
    afresh each second, so a restart is followed) on a thread of its own."""

    def __init__(self, functions: Mapping[str, _Process], interval: float = INTERVAL) -> None:
        self._functions = functions
        self._interval = interval
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._began = time.monotonic()

    def __enter__(self) -> Self:
        self._began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5 * self._interval)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def elapsed(self) -> float:
        return time.monotonic() - self._began

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._stop.wait(self._interval)

    def sample_once(self) -> None:
        seconds = self.elapsed()
        taken = []
        for function, leader in list(self._functions.items()):
            for pid in group_pids(leader.pid):
                measured = measure(pid)
                if measured is not None:
                    role = "master" if pid == leader.pid else "worker"
                    taken.append(Sample(seconds, function, pid, role, *measured))
        with self._lock:
            self._samples += taken


def by_process(samples: list[Sample]) -> dict[tuple[str, int], list[Sample]]:
    """The samples of each (function, pid), in the order they were taken."""
    grouped: dict[tuple[str, int], list[Sample]] = {}
    for sample in samples:
        grouped.setdefault((sample.function, sample.pid), []).append(sample)
    return grouped


def summary(samples: list[Sample], warmup_end: float | None = None) -> dict[str, Any]:
    """Per function, per process ("ROLE PID"): samples, RSS first/max/last (MiB), fds and
    threads min/max/last; with warmup_end, also the RSS of the first sample at or after it
    (None when there is none)."""
    figures: dict[str, Any] = {}
    for (function, pid), taken in sorted(by_process(samples).items()):
        process: dict[str, Any] = {
            "samples": len(taken),
            "rss_mib_first": _mib(taken[0].rss_kib),
        }
        if warmup_end is not None:
            after = [s for s in taken if s.seconds >= warmup_end]
            process["rss_mib_warmup_end"] = _mib(after[0].rss_kib) if after else None
        process |= {
            "rss_mib_max": _mib(max(s.rss_kib for s in taken)),
            "rss_mib_last": _mib(taken[-1].rss_kib),
            "fds": value_range(s.fds for s in taken),
            "threads": value_range(s.threads for s in taken),
        }
        figures.setdefault(function, {})[f"{taken[0].role} {pid}"] = process
    return figures


def record(scenario: str, samples: list[Sample]) -> None:
    """Keep the summary of one running() until soak.__main__ takes it."""
    _summaries[scenario] = summary(samples)


def take_summaries() -> dict[str, Any]:
    """What was recorded since the last call, by running()'s scenario name; then forget it."""
    taken = dict(_summaries)
    _summaries.clear()
    return taken


def value_range(values: Iterable[int]) -> dict[str, int]:
    taken = list(values)
    return {"min": min(taken), "max": max(taken), "last": taken[-1]}


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)
