"""A version's model.json altered in the bucket after registration (its bias changed, its
sha256 left as it was), then the serving alias pointed at it: predict_batch must refuse it,
say so in its log, and keep serving the version it had."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import names
from model.artifact import ModelArtifact
from model.registry import Registry, alias_path, version_path
from soak.system import System

_LOG_TIMEOUT = 30.0
_POLL = 0.1
REFUSAL = "does not match the recorded"  # what the integrity check says (model/artifact.py)


@dataclass(frozen=True)
class Tampering:
    version: int  # the tampered version
    served: int  # the version serving before, which must keep serving
    promoted_at: float  # when the alias was pointed at the tampered version
    log_line: str | None  # predict_batch's refusal, if it logged one


def register_tampered(registry: Registry, base: ModelArtifact) -> int:
    """Register a copy of base, then alter its bias in place (a change whatever the weights),
    leaving its sha256: every load of that version refuses it."""
    marked = dataclasses.replace(base, lineage={**base.lineage, "soak_tampered": True})
    version = registry.register(marked).version
    blob = registry.bucket.get_blob(version_path(base.name, version))
    document: dict[str, Any] = json.loads(blob.download_as_bytes())
    document["bias"] += 1.0
    blob.upload_from_string(
        json.dumps(document, indent=2, sort_keys=True).encode(),
        content_type="application/json",
        if_generation_match=blob.generation,  # this very object, written by the registry
    )
    return version


def point_alias_at(registry: Registry, model: str, version: int) -> float:
    """Move the serving alias to version (compare-and-swap); when the alias was written."""
    alias = registry.promote(model, version, names.SERVING_ALIAS, reason="soak: tampered")
    blob = registry.bucket.get_blob(alias_path(model, alias.name))
    return float(blob.time_created.timestamp())


def tamper(system: System, registry: Registry, served: int) -> Tampering:
    """Tamper a new version and promote it while `served` is served; the refusal's log line."""
    base = registry.load(system.model_name, served)
    version = register_tampered(registry, base)
    promoted_at = point_alias_at(registry, system.model_name, version)
    line = wait_for_log_line(
        system.children["predict_batch"].log_path,
        lambda record: (
            REFUSAL in record.get("message", "")
            and f"version {version}" in record.get("message", "")
        ),
    )
    return Tampering(version, served, promoted_at, line)


def wait_for_log_line(
    path: Path, wanted: Callable[[dict[str, Any]], bool], timeout: float = _LOG_TIMEOUT
) -> str | None:
    """The first JSON log line of path that wanted(record) accepts, polled until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # gunicorn's own lines are not JSON
            if isinstance(record, dict) and wanted(record):
                return line
        if time.monotonic() >= deadline:
            return None
        time.sleep(_POLL)
