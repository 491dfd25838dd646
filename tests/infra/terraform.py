"""infra/terraform read as data: every block of every .tf file, merged, with small resolvers.

python-hcl2 turns an expression into a string such as "${var.bucket}"; the resolvers follow
the plain references the tests need (a variable's default, a local, a resource attribute) and
nothing more: anything else is a test failure, not a guess.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "infra" / "terraform"

_SINGLE_REFERENCE = re.compile(r"^\$\{([^{}]+)\}$")


@dataclass(frozen=True)
class Terraform:
    variables: dict[str, dict[str, Any]]
    locals: dict[str, Any]
    resources: dict[str, dict[str, dict[str, Any]]]  # type -> name -> body
    data: dict[str, dict[str, dict[str, Any]]]
    outputs: dict[str, dict[str, Any]]
    terraform: list[dict[str, Any]]

    def resource(self, address: str) -> dict[str, Any]:
        kind, name = address.split(".")
        return self.resources[kind][name]

    def resources_of(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(kind, {})

    def default(self, variable: str) -> Any:
        return self.variables[variable]["default"]

    def resolve(self, value: Any) -> Any:
        """The value of `"${var.x}"` or `"${local.x}"` (defaults), or a literal unchanged."""
        if not isinstance(value, str):
            return value
        match = _SINGLE_REFERENCE.match(value)
        if match is None:
            return value
        reference = match.group(1)
        if reference.startswith("var."):
            return self.default(reference.removeprefix("var."))
        if reference.startswith("local."):
            return self.resolve(self.locals[reference.removeprefix("local.")])
        raise AssertionError(f"{value!r} is not a variable or a local")


def files() -> list[Path]:
    """The module's own files; a generated backend_override.tf (make deploy) is not one."""
    return sorted(path for path in TERRAFORM_DIR.glob("*.tf") if not path.stem.endswith("override"))


def parse(path: Path) -> dict[str, Any]:
    with path.open() as file:
        parsed: dict[str, Any] = hcl2.load(file)
    return parsed


@functools.cache
def load() -> Terraform:
    variables: dict[str, dict[str, Any]] = {}
    locals_: dict[str, Any] = {}
    resources: dict[str, dict[str, dict[str, Any]]] = {}
    data: dict[str, dict[str, dict[str, Any]]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    settings: list[dict[str, Any]] = []
    for path in files():
        parsed = parse(path)
        for block in parsed.get("variable", []):
            variables.update(block)
        for block in parsed.get("locals", []):
            locals_.update(block)
        settings.extend(parsed.get("terraform", []))
        for block in parsed.get("output", []):
            outputs.update(block)
        for target, blocks in (
            (resources, parsed.get("resource", [])),
            (data, parsed.get("data", [])),
        ):
            for block in blocks:
                for kind, named in block.items():
                    target.setdefault(kind, {}).update(named)
    return Terraform(variables, locals_, resources, data, outputs, settings)


def indexed_key(expression: str, address: str) -> str:
    """ "prediction_log" from `"${google_pubsub_topic.topic["prediction_log"].id}"`."""
    match = re.fullmatch(rf'\$\{{{re.escape(address)}\["([^"]+)"\]\.[\w.\[\]0-9]+\}}', expression)
    assert match, f"{expression!r} is not an attribute of one instance of {address}"
    return match.group(1)
