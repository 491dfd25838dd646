"""Java 17 and the Pub/Sub emulator: the two prerequisites pip cannot install.

`python3 -m infra.local.prerequisites` (the Makefile's `prerequisites` target) runs with the
system python3 before the venv exists, so this module and all it imports are stdlib only.
It exits 0 silently when both are there; otherwise it prints one line to stderr saying what
is missing and how to install it, and exits 2. LocalCloud finds both through this module.

PUBSUB_EMULATOR_BIN names the emulator's script explicitly; JAVA_HOME names the Java the
script will run (as the script itself reads it).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.local.errors import MissingPrerequisite

EXIT_MISSING = 2
JAVA_MAJOR = 17
JAVA_INSTALL = "apt-get install openjdk-17-jre-headless"
PUBSUB_EMULATOR_INSTALL = (
    "apt-get install google-cloud-cli-pubsub-emulator openjdk-17-jre-headless "
    "(google-cloud-cli-pubsub-emulator comes only from Google's Cloud SDK apt repository: "
    "https://cloud.google.com/sdk/docs/install#deb), "
    "or gcloud components install pubsub-emulator"
)
DEBIAN_PUBSUB_EMULATOR = Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)
# `java -version` says `version "17.0.15"`, or `version "1.8.0_292"` up to Java 8.
_JAVA_VERSION = re.compile(r'version "(?:1\.)?(\d+)')
_JAVA_VERSION_TIMEOUT = 20.0  # a cold JVM on a busy machine; ~0.1 s usually


@dataclass(frozen=True)
class PubsubEmulator:
    """How to start the emulator: its own script, or gcloud's `beta emulators pubsub start`."""

    program: str
    via_gcloud: bool = False

    def command(self, host: str, port: int, project_id: str) -> list[str]:
        if self.via_gcloud:
            return [
                self.program,
                *("beta", "emulators", "pubsub", "start", "--quiet"),
                f"--host-port={host}:{port}",
                f"--project={project_id}",
            ]
        return [self.program, f"--host={host}", f"--port={port}"]


def check(environ: Mapping[str, str] | None = None) -> PubsubEmulator:
    """The emulator, once both it and the Java it needs are found; else MissingPrerequisite."""
    environ = os.environ if environ is None else environ
    emulator = find_pubsub_emulator(environ)
    find_java(environ)
    return emulator


def pubsub_emulator_command(
    host: str, port: int, project_id: str, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The argv that starts the Pub/Sub emulator, or MissingPrerequisite naming what to install."""
    return check(environ).command(host, port, project_id)


def find_pubsub_emulator(environ: Mapping[str, str]) -> PubsubEmulator:
    """PUBSUB_EMULATOR_BIN, else the script on PATH, else Debian's path, else gcloud's."""
    override = environ.get("PUBSUB_EMULATOR_BIN")
    if override:
        if not _is_executable(Path(override)):
            raise _missing_emulator(
                f"PUBSUB_EMULATOR_BIN={override} is not an executable file; "
                "point it at cloud-pubsub-emulator or unset it"
            )
        return PubsubEmulator(override)
    search_path = environ.get("PATH", os.defpath)
    script = shutil.which("cloud-pubsub-emulator", path=search_path)
    if script:
        return PubsubEmulator(script)
    if _is_executable(DEBIAN_PUBSUB_EMULATOR):
        return PubsubEmulator(str(DEBIAN_PUBSUB_EMULATOR))
    gcloud = _gcloud_with_pubsub_emulator(search_path)
    if gcloud:
        return PubsubEmulator(gcloud, via_gcloud=True)
    raise _missing_emulator(
        f"no cloud-pubsub-emulator on PATH or at {DEBIAN_PUBSUB_EMULATOR}, "
        "and no gcloud with the pubsub-emulator component"
    )


def find_java(environ: Mapping[str, str]) -> str:
    """The java the emulator's script will run (JAVA_HOME's, else PATH's), if it is 17+."""
    java_home = environ.get("JAVA_HOME")
    if java_home:
        java = _java_in_home(Path(java_home))
        if java is None:
            raise _missing_java(f"JAVA_HOME={java_home} holds no bin/java")
    else:
        java = shutil.which("java", path=environ.get("PATH", os.defpath))
        if java is None:
            raise _missing_java("java not on PATH")
    major = java_major_version(java)
    if major is not None and major < JAVA_MAJOR:
        raise _missing_java(f"{java} is Java {major}")
    return java


@functools.lru_cache(maxsize=8)
def java_major_version(java: str) -> int | None:
    """The major version `java -version` reports; None when it cannot tell (then trust it)."""
    try:
        finished = subprocess.run(  # noqa: S603 - the java found on PATH or JAVA_HOME, no shell
            [java, "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_JAVA_VERSION_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _JAVA_VERSION.search(finished.stderr.decode(errors="replace"))
    return int(match[1]) if match else None


def main() -> int:
    try:
        check()
    except MissingPrerequisite as missing:
        print(missing, file=sys.stderr)
        return EXIT_MISSING
    return 0


def _missing_java(why: str) -> MissingPrerequisite:
    return MissingPrerequisite(
        f"missing prerequisite: Java {JAVA_MAJOR} ({why}); install it with: {JAVA_INSTALL}"
    )


def _missing_emulator(why: str) -> MissingPrerequisite:
    return MissingPrerequisite(
        f"missing prerequisite: the Pub/Sub emulator ({why}); "
        f"install it with: {PUBSUB_EMULATOR_INSTALL}"
    )


def _java_in_home(java_home: Path) -> str | None:
    # The emulator's script tries these two, in this order.
    for candidate in (java_home / "jre" / "sh" / "java", java_home / "bin" / "java"):
        if _is_executable(candidate):
            return str(candidate)
    return None


def _gcloud_with_pubsub_emulator(search_path: str) -> str | None:
    """gcloud, if its SDK holds the pubsub-emulator component (where gcloud looks for it)."""
    gcloud = shutil.which("gcloud", path=search_path)
    if gcloud is None:
        return None
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    return gcloud if (sdk_root / "platform" / "pubsub-emulator").is_dir() else None


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


if __name__ == "__main__":
    sys.exit(main())
