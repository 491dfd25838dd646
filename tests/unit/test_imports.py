"""The product's import graph, read from the source: no import circle, and data flows down
(docs/architecture.md): model/ imports no other package of ours; functions/ imports model/
and the resource names of infra/names.py; mlctl/ uses the functions' settings, never their
internals; scoring/ runs the serving core in a batch job; nothing in the product imports
tests/ or bench/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("functions", "model", "mlctl", "infra", "scoring")
# What each package may import from the others (its own modules always).
ALLOWED = {
    "model": (),
    "functions": ("model", "infra.names"),
    "mlctl": (
        "model",
        "infra.names",
        "infra.pulling",
        "infra.http_client",
        "functions.platform.config",
        "scoring",
    ),
    "infra": ("model", "functions", "infra"),
    # The batch job predicts with the serving core, its parsing and errors, not a copy.
    "scoring": ("model", "functions.serving", "functions.platform"),
    "main": ("functions",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> dict[str, Path]:
    paths = [ROOT / "main.py", *(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))]
    return {module_name(path): path for path in paths}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that `path` imports anywhere, for types only too: a circle hidden behind
    TYPE_CHECKING or a function's body is still a circle for the reader."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules.keys()
            found |= submodules or {node.module}
    return found & modules.keys()


def graph() -> dict[str, set[str]]:
    modules = product_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each as the path that closes it (depth-first search)."""
    found, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_the_product_has_no_import_circle():
    assert cycles(graph()) == []


def test_the_check_finds_a_circle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c", "a"]]


def test_imports_flow_down():
    upward = {
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if (package := module.split(".")[0]) != target.split(".")[0]
        and not any(target == a or target.startswith(a + ".") for a in ALLOWED[package])
    }
    assert upward == set()
