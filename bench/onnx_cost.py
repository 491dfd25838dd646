"""What serving a tree family adds to an instance: the ONNX libraries' import and a tree
version's load in a fresh interpreter (the cold start of a process whose model is a tree),
and the room they take installed.

A linear version never imports them (model/artifact.py imports model/onnx_graph.py only for
an ONNX graph), so the child imports `main` first, untimed: what is timed is what a tree adds
to predict_batch's own cold start, in the order the serving path meets it (onnx for the
graph's checks, then onnxruntime).

    python -m bench.onnx_cost DIRECTORY...   # each holds one version's model.json, model.onnx
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.rig import ROOT
from bench.timing import median
from model.artifact import ModelArtifact, from_json

RUNS = 3
TIMEOUT = 120.0
# What requirements.txt installs for the tree families alone (skl2onnx converts at training).
DISTRIBUTIONS = ("onnxruntime", "onnx", "skl2onnx")
REQUIREMENTS = ROOT / "requirements.txt"  # what Cloud Functions installs


def measure(trees: Mapping[str, ModelArtifact], env: Mapping[str, str]) -> dict[str, Any]:
    """Medians of RUNS fresh interpreters, and the installed bytes."""
    with tempfile.TemporaryDirectory() as scratch:
        directories = [_write(Path(scratch) / family, model) for family, model in trees.items()]
        runs = [_fresh(directories, env) for _ in range(RUNS)]
    only_theirs = _only_theirs(DISTRIBUTIONS)
    return {
        "import_ms": {name: _median(runs, "import_ms", name) for name in runs[0]["import_ms"]},
        "load_ms": {family: _median(runs, "load_ms", family) for family in trees},
        "runs": RUNS,
        "installed_bytes": {name: installed_bytes(name) for name in DISTRIBUTIONS},
        "dependencies_installed_bytes": {name: installed_bytes(name) for name in only_theirs},
    }


def installed_bytes(distribution: str) -> int:
    """The files its installer recorded, and the bytecode compiled beside its modules (uv
    compiles at install, as make venv asks, but records no .pyc)."""
    total = 0
    for file in metadata.files(distribution) or ():
        path = Path(str(file.locate()))
        if path.is_file():
            total += path.stat().st_size
            if path.suffix == ".py":
                cached = Path(importlib.util.cache_from_source(str(path)))
                total += cached.stat().st_size if cached.is_file() else 0
    return total


def _only_theirs(distributions: Iterable[str]) -> list[str]:
    """Their dependencies that requirements.txt would not install without them."""
    wanted = {canonicalize_name(name) for name in distributions}
    others = _direct_requirements(REQUIREMENTS) - wanted
    return sorted(_closure(wanted) - wanted - _closure(others))


def _direct_requirements(path: Path) -> set[str]:
    lines = (line.partition("#")[0].strip() for line in path.read_text().splitlines())
    return {canonicalize_name(Requirement(line).name) for line in lines if line}


def _closure(names: Iterable[str]) -> set[str]:
    found, pending = set(), list(names)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending += _requires(name)
    return found


def _requires(distribution: str) -> set[str]:
    """Its installed requirements, extras left out."""
    try:
        texts = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return set()
    requirements = (Requirement(text) for text in texts)
    return {
        canonicalize_name(requirement.name)
        for requirement in requirements
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""})
    }


def _write(directory: Path, model: ModelArtifact) -> Path:
    directory.mkdir()
    (directory / "model.json").write_bytes(model.to_json())
    for name, data in model.files().items():
        (directory / name).write_bytes(data)
    return directory


def _fresh(directories: list[Path], env: Mapping[str, str]) -> dict[str, Any]:
    finished = subprocess.run(
        [sys.executable, "-m", "bench.onnx_cost", *map(str, directories)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    found: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return found


def _median(runs: list[dict[str, Any]], key: str, name: str) -> float:
    return round(median([run[key][name] for run in runs]), 1)


def main() -> None:
    importlib.import_module("main")  # what predict_batch has imported before it loads a model
    if "onnx" in sys.modules or "onnxruntime" in sys.modules:
        raise RuntimeError("imported before its time: the cost below would read too low")
    imports = {}
    for name in ("onnx", "onnxruntime"):
        began = time.perf_counter()
        importlib.import_module(name)
        imports[name] = (time.perf_counter() - began) * 1000
    loads = {}
    for directory in map(Path, sys.argv[1:]):
        began = time.perf_counter()
        from_json((directory / "model.json").read_bytes(), functools.partial(_read, directory))
        loads[directory.name] = (time.perf_counter() - began) * 1000
    print(json.dumps({"import_ms": imports, "load_ms": loads}))


def _read(directory: Path, name: str) -> bytes:
    return (directory / name).read_bytes()


if __name__ == "__main__":
    main()
