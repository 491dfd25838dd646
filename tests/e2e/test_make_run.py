"""`make run` end to end: `python -m infra.local.run` as a real process, on free ports.

Every port and the storage root are the test's own, so it never meets a developer's
`make run` or another test. The first run trains; later runs reuse its registry.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import names
from infra.local.processes import LOOPBACK, group_exists, http_get, port_in_use

pytestmark = pytest.mark.e2e

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SERVING = "serving; Ctrl-C to stop"
READY_TIMEOUT = 90.0  # a cold JVM and first training on a busy CI machine; ~8 s usually
STOP_TIMEOUT = 30.0  # every child gets 10 s to leave; ~2 s usually
# Variables of the developer's shell that would point the launcher elsewhere.
_FOREIGN = ("PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")
_FOREIGN += ("MODEL_BUCKET", "MODEL_NAME")


# Below the kernel's ephemeral range (from 32768 by default): the other test processes take
# their free ports from that range, so none can pick one of these up once a launch has let
# it go, and a port still answering after the stop is this launch's own.
QUIET_PORTS = range(20_000, 32_000)


def distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    draw = random.Random()
    while len(ports) < count:
        port = draw.choice(QUIET_PORTS)
        if port not in ports and _bindable(port):
            ports.add(port)
    return sorted(ports)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


class Launch:
    """One `python -m infra.local.run`, its output (stdout and stderr) read by a thread."""

    def __init__(self, storage_root: Path, log_dir: Path, **extra_env: str) -> None:
        variables = ["PUBSUB_PORT", "STORAGE_PORT"]
        variables += [f"{name.upper()}_PORT" for name in names.FUNCTIONS]
        self.ports = dict(zip(variables, distinct_free_ports(len(variables)), strict=True))
        env = {key: value for key, value in os.environ.items() if key not in _FOREIGN}
        env |= {key: str(port) for key, port in self.ports.items()}
        env |= {"LOCAL_STORAGE_ROOT": str(storage_root), "LOCAL_LOG_DIR": str(log_dir)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.run"],
            cwd=REPOSITORY_ROOT,
            env={**env, **extra_env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for(self, text: str, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the launcher's output:\n{self.output}")
            time.sleep(0.05)

    def stop(self, signum: signal.Signals = signal.SIGINT) -> int:
        """Signal the launcher (if still running); its exit code once it has left."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.exit_code()

    def exit_code(self) -> int:
        """Wait (bounded) for the launcher to leave on its own, and read all it printed."""
        code = self.process.wait(timeout=STOP_TIMEOUT)
        self._close_output()
        return code

    def kill_leftovers(self) -> None:
        """After a failed test: nothing the launcher started may outlive it."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        self._close_output()
        for pid in self.pids():
            if group_exists(pid):
                os.killpg(pid, signal.SIGKILL)

    def pids(self) -> list[int]:
        """Every child the launcher said it started."""
        return [int(pid) for pid in re.findall(r"\bpid (\d+)", self.output)]

    def url(self, function: str) -> str:
        match = re.search(rf"^  {function}\s+(http://\S+)", self.output, re.MULTILINE)
        assert match, f"no URL for {function} in:\n{self.output}"
        return match[1]

    def pid(self, function: str) -> int:
        match = re.search(rf"^  {function}\s+\S+\s+pid (\d+)", self.output, re.MULTILINE)
        assert match, f"no pid for {function} in:\n{self.output}"
        return int(match[1])

    def sample_prediction(self) -> tuple[str, dict[str, Any]]:
        """The curl command printed and the JSON answer printed after it."""
        lines = self.output.splitlines()
        index = next(i for i, line in enumerate(lines) if line.strip().startswith("$ curl"))
        return lines[index].strip(), json.loads(lines[index + 1])

    def model_answers(self, model: str) -> list[dict[str, Any]]:
        """The answers printed under the model's examples: /predict's, then the V2 one."""
        lines = self.output.splitlines()
        index = next(i for i, line in enumerate(lines) if line.startswith(f"model {model}: POST"))
        return [json.loads(lines[index + 2]), json.loads(lines[index + 4])]

    def sample_stream(self) -> tuple[str, dict[str, Any]]:
        """The mlctl publish command printed and the stream result printed after it."""
        lines = self.output.splitlines()
        index = next(i for i, line in enumerate(lines) if "$ python -m mlctl publish" in line)
        return lines[index].strip(), json.loads(lines[index + 1])

    def assert_nothing_left(self) -> None:
        started = self.pids()
        assert started, self.output
        assert [pid for pid in started if group_exists(pid)] == []
        assert [port for port in self.ports.values() if port_in_use(LOOPBACK, port)] == []

    def _close_output(self) -> None:
        self._reader.join(timeout=5)  # the pipe ends when the launcher does
        assert self.process.stdout is not None
        self.process.stdout.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)


@pytest.fixture
def launches() -> Iterator[list[Launch]]:
    """Launches a test starts; none may outlive it, whatever the test's outcome."""
    started: list[Launch] = []
    yield started
    for launch in started:
        launch.kill_leftovers()


@pytest.fixture
def first_run(tmp_path: Path, launches: list[Launch]) -> Launch:
    """The first `make run` on an empty registry, serving; the test stops it."""
    launch = Launch(tmp_path / "gcs", tmp_path / "logs")
    launches.append(launch)
    launch.wait_for(SERVING)
    return launch


@pytest.fixture(scope="module")
def storage_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Objects left by a first `make run` (version 1 trained and promoted), for the tests of
    later runs, whatever order the tests run in."""
    root = tmp_path_factory.mktemp("make-run-gcs")
    launch = Launch(root, tmp_path_factory.mktemp("first-run-logs"))
    try:
        launch.wait_for(SERVING)
        assert launch.stop(signal.SIGINT) == 0
        yield root
    finally:
        launch.kill_leftovers()


def test_first_run_wires_retrain_and_uploads_reach_model_events(
    first_run: Launch, tmp_path: Path
) -> None:
    output = first_run.output
    assert re.search(r"^  retrain\s+http://", output, re.MULTILINE), output
    push = re.search(
        r"^  dataset-events-push\s+dataset-events -> (\S+), dead letters to (\S+)$",
        output,
        re.MULTILINE,
    )
    assert push, output
    assert (
        push[1] == f"{first_run.url('retrain')}/projects/{names.PROJECT_ID}/topics/dataset-events"
    )
    assert push[2] == names.DATASET_DEAD_LETTER
    # The printed commands, run as printed: one upload by mlctl, one by gcloud storage cp.
    env = {
        **{key: value for key, value in os.environ.items() if key not in _FOREIGN},
        "PUBSUB_EMULATOR_HOST": f"{LOOPBACK}:{first_run.ports['PUBSUB_PORT']}",
        "STORAGE_EMULATOR_HOST": f"http://{LOOPBACK}:{first_run.ports['STORAGE_PORT']}",
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "PYTHONPATH": str(REPOSITORY_ROOT),
    }
    (tmp_path / "diabetes.csv").write_bytes(b"bmi,target\n0.1,150\n0.2,160\n")  # too few
    printed = [line.strip()[2:] for line in output.splitlines() if line.strip().startswith("$ ")]
    upload = next(line for line in printed if "mlctl upload" in line)
    gcloud = next(line for line in printed if "gcloud storage cp" in line)
    for command in (upload, gcloud):
        command = command.replace("python -m", f"{sys.executable} -m")
        subprocess.run(  # noqa: S602 - make run's printed line, VAR=x prefixes and all, as pasted
            command, shell=True, cwd=tmp_path, env=env, check=True, timeout=120, capture_output=True
        )
    events = subprocess.run(
        [sys.executable, "-m", "mlctl", "events", "--count", "2", "--timeout", "60"],
        cwd=REPOSITORY_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert events.returncode == 0, events.stderr
    outcomes = [json.loads(line) for line in events.stdout.splitlines()]
    assert [o["attributes"]["event"] for o in outcomes] == ["invalid_data", "invalid_data"]
    assert outcomes[0]["data"]["reasons"] == [
        "2 data rows: at least 30 are needed to train and evaluate a model"
    ]
    assert outcomes[0]["data"]["production_version"] == 1


def test_first_run_trains_serves_a_real_prediction_and_stops_on_sigint(first_run: Launch) -> None:
    url = first_run.url("predict_batch")
    command, answer = first_run.sample_prediction()

    assert "registry empty; trained version 1" in first_run.output
    assert command == f"$ curl -g '{url}/batch/[0.5,0.2,0.6]'"
    assert len(answer["predictions"]) == 3
    assert all(isinstance(value, float) for value in answer["predictions"])
    assert answer["model"] == {"name": names.MODEL_NAME, "version": 1}
    health = http_get(f"{url}/health", timeout=10)
    assert health is not None
    assert (health[0], json.loads(health[1])) == (200, {"status": "ok"})
    assert url == f"http://{LOOPBACK}:{first_run.ports['PREDICT_BATCH_PORT']}"
    publish, result = first_run.sample_stream()
    assert result["status"] == "ok"
    assert result["request_id"] in publish
    assert result["predictions"] == answer["predictions"][:1]  # the same instance, 0.5
    assert result["model"] == {"name": names.MODEL_NAME, "version": 1}
    # Two models of two families, each answering by /predict and by the V2 protocol alike.
    assert f"model {names.FULL_MODEL_NAME}: registry empty; trained version 1" in first_run.output
    for model in (names.MODEL_NAME, names.FULL_MODEL_NAME):
        own, v2 = first_run.model_answers(model)
        assert own["model"] == {"name": model, "version": 1}
        assert (v2["model_name"], v2["model_version"]) == (model, "1")
        assert v2["outputs"][0]["data"] == own["predictions"]

    assert first_run.stop(signal.SIGINT) == 0
    first_run.assert_nothing_left()
    assert first_run.output.rstrip().endswith("stopped")


def test_a_second_run_reuses_the_registry_and_stops_on_sigterm(
    storage_root: Path, tmp_path: Path, launches: list[Launch]
) -> None:
    second = Launch(storage_root, tmp_path)
    launches.append(second)
    second.wait_for(SERVING)

    _, answer = second.sample_prediction()
    assert f"reused the registry under {storage_root}" in second.output
    assert "production is version 1 (versions: 1)" in second.output
    assert "trained" not in second.output
    assert answer["model"]["version"] == 1

    assert second.stop(signal.SIGTERM) == 0
    second.assert_nothing_left()


def test_a_function_that_dies_stops_everything_with_its_log_named(
    storage_root: Path, tmp_path: Path, launches: list[Launch]
) -> None:
    launch = Launch(storage_root, tmp_path)
    launches.append(launch)
    launch.wait_for(SERVING)
    pid = launch.pid("predict_batch")

    os.kill(pid, signal.SIGKILL)  # gunicorn's master only: its worker is left for the launcher

    assert launch.exit_code() == 1
    assert (
        f"error: predict_batch (pid {pid}) exited unexpectedly with code -9; "
        f"log: {tmp_path / 'predict_batch.log'}"
    ) in launch.output
    launch.assert_nothing_left()


def test_a_missing_prerequisite_is_one_line_and_exit_2(tmp_path: Path) -> None:
    launch = Launch(tmp_path / "gcs", tmp_path, PUBSUB_EMULATOR_BIN=str(tmp_path / "nothing"))

    assert launch.exit_code() == 2
    [line] = launch.output.splitlines()
    assert line.startswith("missing prerequisite: the Pub/Sub emulator (PUBSUB_EMULATOR_BIN=")
