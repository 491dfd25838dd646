"""soak/resources.py: a process group's processes found and measured from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from soak.resources import Sample, Sampler, group_pids, measure, summary

# A leader with one child in its group, both idle until killed.
_FAMILY = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
)


@pytest.fixture
def family():
    leader = subprocess.Popen([sys.executable, "-c", _FAMILY], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(group_pids(leader.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the child to exist
    yield leader
    os.killpg(leader.pid, signal.SIGKILL)
    leader.wait(timeout=10)


def test_a_group_is_its_leader_then_the_others(family):
    pids = group_pids(family.pid)
    assert len(pids) == 2
    assert pids[0] == family.pid


def test_a_process_is_measured_and_a_gone_one_is_none():
    rss_kib, fds, threads = measure(os.getpid())
    assert rss_kib > 1024
    assert fds >= 3  # stdin, stdout, stderr
    assert threads >= 1
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    assert measure(gone.pid) is None


def test_the_sampler_samples_every_process_of_each_group(family):
    with Sampler({"f": family}, interval=0.05) as sampler:
        deadline = time.monotonic() + 10
        while len({s.seconds for s in sampler.samples()}) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    samples = sampler.samples()
    roles = {(s.pid, s.role) for s in samples}
    assert len(roles) == 2
    assert (family.pid, "master") in roles
    assert all(s.function == "f" and s.rss_kib > 0 for s in samples)


def test_the_summary_has_each_process_ranges():
    samples = [
        Sample(0.0, "f", 7, "worker", 2048, 10, 3),
        Sample(1.0, "f", 7, "worker", 4096, 12, 5),
        Sample(2.0, "f", 7, "worker", 3072, 11, 4),
    ]
    assert summary(samples) == {
        "f": {
            "worker 7": {
                "samples": 3,
                "rss_mib_first": 2.0,
                "rss_mib_max": 4.0,
                "rss_mib_last": 3.0,
                "fds": {"min": 10, "max": 12, "last": 11},
                "threads": {"min": 3, "max": 5, "last": 4},
            }
        }
    }


def test_the_summary_has_the_rss_at_the_end_of_a_warm_up():
    samples = [
        Sample(0.0, "f", 7, "worker", 2048, 10, 3),
        Sample(1.0, "f", 7, "worker", 4096, 12, 5),
        Sample(2.0, "f", 7, "worker", 3072, 11, 4),
    ]
    assert summary(samples, warmup_end=0.5)["f"]["worker 7"]["rss_mib_warmup_end"] == 4.0
    assert summary(samples, warmup_end=5.0)["f"]["worker 7"]["rss_mib_warmup_end"] is None
