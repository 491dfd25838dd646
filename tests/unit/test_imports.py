"""Every module imports on its own, first, in a fresh interpreter: no import cycle hides
behind the order in which main.py happens to import them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for package in ("functions", "model")
    for path in (ROOT / package).glob("*.py")
    if path.name != "__init__.py"
)


def test_every_module_imports_first_on_its_own():
    # One interpreter per module, started together: a few seconds for all of them.
    processes = {
        module: subprocess.Popen(
            [sys.executable, "-c", f"import {module}"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for module in MODULES
    }
    failed = {}
    for module, process in processes.items():
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            failed[module] = stderr.decode().strip().splitlines()[-1]
    assert failed == {}


@pytest.mark.parametrize("module", ["functions.prediction", "functions.prediction_log"])
def test_the_modules_of_the_old_cycle_are_checked(module):
    assert module in MODULES
