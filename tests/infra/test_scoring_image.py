"""scoring/Dockerfile: the image that launches the scoring job and runs its workers has the
code the pipeline imports and the Beam the tests ran."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "scoring" / "Dockerfile").read_text()


def argument(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert match, name
    return match.group(1)


def copied_packages() -> set[str]:
    """Top-level directories the image copies from the repository."""
    return {
        match.group(1)
        for match in re.finditer(r"^COPY (\w+) \1$", DOCKERFILE, re.MULTILINE)
        if (ROOT / match.group(1)).is_dir()
    }


def local_imports(package: str) -> set[str]:
    """The repository's top-level packages that any module of `package` imports."""
    local = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found & local


def test_beam_is_the_pinned_one_everywhere():
    pins = {
        re.search(r"apache-beam\[gcp\]==(\S+)", (ROOT / name).read_text()).group(1)  # type: ignore[union-attr]
        for name in ("requirements-dev.txt", "scoring/requirements.txt")
    }
    (pin,) = pins
    assert argument("BEAM_IMAGE") == f"apache/beam_python3.11_sdk:{pin}"
    # The launcher's Python is the workers' (and the functions' runtime, python311).
    assert "python311-template-launcher-base" in argument("LAUNCHER_IMAGE")


def test_the_image_holds_every_package_the_pipeline_imports():
    copied = copied_packages()
    assert "scoring" in copied
    for package in copied:
        assert local_imports(package) <= copied, package
    # And the build context lets them in.
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :].count("*") == 1
    for package in copied:
        assert any(line.startswith(f"!{package}/") for line in ignored), package


def test_the_launcher_runs_an_existing_file_of_the_image():
    workdir = argument("WORKDIR")
    match = re.search(r"^ENV FLEX_TEMPLATE_PYTHON_PY_FILE=\$\{WORKDIR\}/(\S+)$", DOCKERFILE, re.M)
    assert match
    assert (ROOT / match.group(1)).is_file()
    assert workdir == "/template"
    assert "ENV PYTHONPATH=${WORKDIR}" in DOCKERFILE
    # The workers start through Beam's boot, the launcher through Dataflow's binary.
    assert DOCKERFILE.rstrip().endswith('ENTRYPOINT ["/opt/apache/beam/boot"]')
    assert "/opt/google/dataflow/python_template_launcher" in DOCKERFILE
