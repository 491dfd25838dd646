"""`python3 -m infra.local.prerequisites`, run as the Makefile runs it, before any venv exists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local import prerequisites
from infra.local.errors import MissingPrerequisite

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def run_prerequisites(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages, so any import beyond the standard library would fail here.
    return subprocess.run(
        [sys.executable, "-S", "-m", "infra.local.prerequisites"],
        cwd=REPOSITORY_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def executable(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A directory for a fake java and emulator; PATH holds nothing else."""
    return tmp_path / "bin"


def environment(path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    return {**env, "PATH": str(path), **extra}


def fake_java(bin_dir: Path, version: str) -> Path:
    return executable(bin_dir / "java", f"echo 'openjdk version \"{version}\" 2025-04-15' >&2")


def fake_emulator(bin_dir: Path) -> Path:
    return executable(bin_dir / "cloud-pubsub-emulator", "exit 0")


def test_everything_there_is_silent_and_exits_0(fake_bin: Path) -> None:
    fake_java(fake_bin, "17.0.15")
    emulator = fake_emulator(fake_bin)

    finished = run_prerequisites(environment(fake_bin, PUBSUB_EMULATOR_BIN=str(emulator)))

    assert (finished.returncode, finished.stdout, finished.stderr) == (0, "", "")


def test_no_java_on_path_is_one_line_and_exit_2(fake_bin: Path) -> None:
    emulator = fake_emulator(fake_bin)

    finished = run_prerequisites(environment(fake_bin, PUBSUB_EMULATOR_BIN=str(emulator)))

    assert finished.returncode == prerequisites.EXIT_MISSING == 2
    assert finished.stdout == ""
    assert finished.stderr.splitlines() == [
        "missing prerequisite: Java 17 (java not on PATH); "
        "install it with: apt-get install openjdk-17-jre-headless"
    ]


def test_an_old_java_is_missing_java_17(fake_bin: Path) -> None:
    java = fake_java(fake_bin, "1.8.0_292")
    emulator = fake_emulator(fake_bin)

    finished = run_prerequisites(environment(fake_bin, PUBSUB_EMULATOR_BIN=str(emulator)))

    assert finished.returncode == 2
    assert finished.stderr.splitlines() == [
        f"missing prerequisite: Java 17 ({java} is Java 8); "
        "install it with: apt-get install openjdk-17-jre-headless"
    ]


def test_a_java_home_without_java_is_named(fake_bin: Path, tmp_path: Path) -> None:
    fake_java(fake_bin, "17.0.15")  # on PATH, but the emulator's script prefers JAVA_HOME
    emulator = fake_emulator(fake_bin)
    java_home = tmp_path / "jdk"
    java_home.mkdir()
    env = environment(fake_bin, PUBSUB_EMULATOR_BIN=str(emulator), JAVA_HOME=str(java_home))

    finished = run_prerequisites(env)

    assert finished.returncode == 2
    assert f"(JAVA_HOME={java_home} holds no bin/java)" in finished.stderr
    assert len(finished.stderr.splitlines()) == 1


def test_an_emulator_bin_pointing_at_nothing_is_one_line_and_exit_2(
    fake_bin: Path, tmp_path: Path
) -> None:
    fake_java(fake_bin, "17.0.15")
    nothing = tmp_path / "no-such-emulator"

    finished = run_prerequisites(environment(fake_bin, PUBSUB_EMULATOR_BIN=str(nothing)))

    assert finished.returncode == 2
    assert finished.stdout == ""
    [line] = finished.stderr.splitlines()
    assert line.startswith(
        f"missing prerequisite: the Pub/Sub emulator (PUBSUB_EMULATOR_BIN={nothing} "
    )
    assert "apt-get install google-cloud-cli-pubsub-emulator openjdk-17-jre-headless" in line
    assert "Google's Cloud SDK apt repository" in line


def test_the_emulator_is_found_on_path_before_gcloud(fake_bin: Path) -> None:
    emulator = fake_emulator(fake_bin)
    executable(fake_bin / "gcloud", "exit 0")

    found = prerequisites.find_pubsub_emulator({"PATH": str(fake_bin)})

    assert found == prerequisites.PubsubEmulator(str(emulator))
    assert found.command("127.0.0.1", 8085, "local-ml") == [
        str(emulator),
        "--host=127.0.0.1",
        "--port=8085",
    ]


def test_gcloud_with_the_emulator_component_is_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk = tmp_path / "google-cloud-sdk"
    gcloud = executable(sdk / "bin" / "gcloud", "exit 0")
    (sdk / "platform" / "pubsub-emulator").mkdir(parents=True)
    monkeypatch.setattr(prerequisites, "DEBIAN_PUBSUB_EMULATOR", tmp_path / "not-installed")

    found = prerequisites.find_pubsub_emulator({"PATH": str(gcloud.parent)})

    assert found.command("127.0.0.1", 9000, "p") == [
        str(gcloud),
        *("beta", "emulators", "pubsub", "start", "--quiet"),
        "--host-port=127.0.0.1:9000",
        "--project=p",
    ]


def test_gcloud_without_the_component_is_no_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcloud = executable(tmp_path / "google-cloud-sdk" / "bin" / "gcloud", "exit 0")
    monkeypatch.setattr(prerequisites, "DEBIAN_PUBSUB_EMULATOR", tmp_path / "not-installed")

    with pytest.raises(MissingPrerequisite, match="no gcloud with the pubsub-emulator component"):
        prerequisites.find_pubsub_emulator({"PATH": str(gcloud.parent)})
