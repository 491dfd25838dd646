"""The model registry on Cloud Storage (docs/registry.md).

Versions are immutable: each object is created with ifGenerationMatch=0, so two trainers
registering at once can never overwrite each other; the loser of a race takes the next
number. A version's files (model.onnx) are created before its model.json, whose creation
registers it: a registered version is never half-written, and a trainer that died between
the two leaves only an unlisted number behind. Aliases change only by compare-and-swap on
the alias object's generation.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from model.artifact import ArtifactError, ModelArtifact, from_json
from model.gcs import create_if_absent
from model.layout import SERVING_ALIAS

_VERSION_PATH = re.compile(r"^models/(?P<model>[^/]+)/versions/(?P<version>[1-9]\d*)/model\.json$")
# Model and alias names: one path segment of the registry's layout, never "." or "..".
NAME_PATTERN = ALIAS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_NAME = _ALIAS_NAME = re.compile(NAME_PATTERN)
# Enough for many concurrent trainers; each lost race costs one failed create.
_MAX_REGISTRATION_ATTEMPTS = 50
# The largest file of a version that is read (model.json, model.onnx): a setting of the
# functions (MAX_ARTIFACT_BYTES), so a huge object cannot exhaust an instance's memory.
DEFAULT_MAX_ARTIFACT_BYTES = 100 * 1024 * 1024


class RegistryError(Exception):
    """Base class of the registry's own errors."""


class VersionNotFound(RegistryError):
    pass


class AliasNotFound(RegistryError):
    pass


class RegistryConflict(RegistryError):
    """A document changed between our read and our write: re-read and decide again."""


class AliasConflict(RegistryConflict):
    """The alias changed between our read and our write: re-read and decide again."""


@dataclass(frozen=True)
class Alias:
    name: str
    version: int
    generation: int
    document: dict[str, Any]


def model_prefix(model: str) -> str:
    return f"models/{model}/"


def version_path(model: str, version: int, filename: str = "model.json") -> str:
    return f"models/{model}/versions/{version}/{filename}"


def alias_path(model: str, alias: str) -> str:
    return f"models/{model}/aliases/{alias}.json"


def check_alias_name(alias: str) -> str:
    if not _ALIAS_NAME.match(alias):
        raise ValueError(f"alias {alias!r}: use letters, digits, '.', '_' or '-' (at most 63)")
    return alias


def check_model_name(model: str) -> str:
    if not _NAME.match(model):
        raise ValueError(f"model {model!r}: use letters, digits, '.', '_' or '-' (at most 63)")
    return model


class Registry:
    """Versions, reports and aliases of models in one bucket."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        timeout: float = 10.0,
        retry: Retry | None = None,
        max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    ) -> None:
        self._bucket = client.bucket(bucket)
        self._timeout = timeout
        self._max_artifact_bytes = max_artifact_bytes
        # Reads are idempotent; creates are too, thanks to their generation precondition.
        self._retry = retry if retry is not None else DEFAULT_RETRY.with_timeout(timeout)

    @property
    def bucket_name(self) -> str:
        return str(self._bucket.name)

    @property
    def bucket(self) -> storage.Bucket:
        return self._bucket

    # Versions -----------------------------------------------------------------------

    def versions(self, model: str) -> list[int]:
        """Registered versions of `model`, ascending."""
        blobs = self._bucket.list_blobs(
            prefix=f"models/{model}/versions/", timeout=self._timeout, retry=self._retry
        )
        found = []
        for blob in blobs:
            match = _VERSION_PATH.match(blob.name)
            if match and match["model"] == model:
                found.append(int(match["version"]))
        return sorted(found)

    def models(self) -> list[str]:
        """Models with at least one registered version, by name."""
        return [model for model in self._model_folders() if self.has_versions(model)]

    def has_versions(self, model: str) -> bool:
        """Whether `model` has a registered version: the listing stops at the first."""
        blobs = self._bucket.list_blobs(
            prefix=f"models/{model}/versions/",
            page_size=64,  # a version is two or three objects: the first page holds one
            timeout=self._timeout,
            retry=self._retry,
        )
        return any(_VERSION_PATH.match(blob.name) for blob in blobs)

    def _model_folders(self) -> list[str]:
        """The names under models/, listed by folder: one page per thousand models, not per
        thousand objects."""
        blobs = self._bucket.list_blobs(
            prefix="models/", delimiter="/", timeout=self._timeout, retry=self._retry
        )
        for _ in blobs.pages:
            pass  # the prefixes fill in as the pages are read
        return sorted(prefix.removeprefix("models/").rstrip("/") for prefix in blobs.prefixes)

    def register(
        self,
        artifact: ModelArtifact,
        report: dict[str, Any] | None = None,
        report_png: bytes | None = None,
    ) -> ModelArtifact:
        """Store `artifact` as the next free version and return it with that version.

        Without a report here, write it later with write_report (once the gate decided).
        """
        existing = self.versions(artifact.name)
        version = (existing[-1] if existing else 0) + 1
        for _ in range(_MAX_REGISTRATION_ATTEMPTS):
            candidate = artifact.with_version(version)
            if self._create_version(candidate):
                break
            version += 1  # another trainer took this number first
        else:
            raise RegistryError(
                f"could not allocate a version of {artifact.name!r} after "
                f"{_MAX_REGISTRATION_ATTEMPTS} attempts"
            )
        if report is not None:
            self.write_report(artifact.name, version, report, report_png)
        return candidate

    def _create_version(self, artifact: ModelArtifact) -> bool:
        """Its files, then its model.json; False when another trainer has the number."""
        for filename, data in artifact.files().items():
            path = version_path(artifact.name, artifact.version, filename)
            if not self._create(path, data, "application/octet-stream"):
                return False
        path = version_path(artifact.name, artifact.version)
        return self._create(path, artifact.to_json(), "application/json")

    def write_report(
        self, model: str, version: int, report: dict[str, Any], report_png: bytes | None = None
    ) -> bool:
        """Create the version's report.png, then its report.json; False if it already had one.

        The image comes first: once report.json exists (the gate has decided), everything it
        describes exists too, even if the attempt that wrote it died in between."""
        if report_png is not None:
            self._create(version_path(model, version, "report.png"), report_png, "image/png")
        document = {**report, "name": model, "version": version}
        return self._create(
            version_path(model, version, "report.json"),
            json.dumps(document, indent=2, sort_keys=True).encode(),
            "application/json",
        )

    def find_version(self, model: str, lineage_key: str, value: Any) -> int | None:
        """The newest version whose lineage holds `value` under `lineage_key`, if any."""
        for version in reversed(self.versions(model)):
            if self.load(model, version).lineage.get(lineage_key) == value:
                return version
        return None

    def load(self, model: str, version: int) -> ModelArtifact:
        """The verified artifact, its files read and checked; ArtifactError (IntegrityError
        for bytes that do not match their sha256) naming why it cannot be served."""
        data = self._read_artifact_file(model, version, "model.json")
        if data is None:
            raise VersionNotFound(f"model {model!r} has no version {version}")

        def read_file(filename: str) -> bytes:
            found = self._read_artifact_file(model, version, filename)
            if found is None:
                raise ArtifactError(f"model {model!r} version {version} has no {filename}")
            return found

        artifact = from_json(data, read_file)
        if artifact.name != model or artifact.version != version:
            raise VersionNotFound(
                f"models/{model}/versions/{version}/model.json holds "
                f"{artifact.name!r} version {artifact.version}"
            )
        return artifact

    def report(self, model: str, version: int) -> dict[str, Any]:
        found = self.report_if_any(model, version)
        if found is None:
            raise VersionNotFound(f"model {model!r} version {version} has no report")
        return found

    def report_if_any(self, model: str, version: int) -> dict[str, Any] | None:
        """The version's report, or None while the gate has not decided yet."""
        data = self._read(version_path(model, version, "report.json"))
        if data is None:
            return None
        result: dict[str, Any] = json.loads(data)
        return result

    # Aliases ------------------------------------------------------------------------

    def aliases(self, model: str) -> dict[str, int]:
        prefix = f"models/{model}/aliases/"
        blobs = self._bucket.list_blobs(prefix=prefix, timeout=self._timeout, retry=self._retry)
        names = [
            blob.name[len(prefix) : -len(".json")] for blob in blobs if blob.name.endswith(".json")
        ]
        result = {}
        for name in names:
            alias = self.alias(model, name)
            if alias is not None:
                result[name] = alias.version
        return result

    def alias(self, model: str, alias: str) -> Alias | None:
        """The alias with the generation a compare-and-swap must match, or None."""
        blob = self._bucket.get_blob(
            alias_path(model, check_alias_name(alias)), timeout=self._timeout, retry=self._retry
        )
        if blob is None:
            return None
        # Read exactly the generation we saw, so the pair (version, generation) is consistent.
        pinned = self._bucket.blob(blob.name, generation=blob.generation)
        try:
            data = pinned.download_as_bytes(timeout=self._timeout, retry=self._retry)
        except api_exceptions.NotFound:
            return self.alias(model, alias)  # replaced between the two reads: read again
        document = json.loads(data)
        return Alias(alias, int(document["version"]), int(blob.generation), document)

    def alias_generation(self, model: str, alias: str) -> int | None:
        """Just the alias object's generation: a cheap check whether it changed."""
        blob = self._bucket.get_blob(
            alias_path(model, check_alias_name(alias)), timeout=self._timeout, retry=self._retry
        )
        return None if blob is None else int(blob.generation)

    def set_alias(
        self,
        model: str,
        alias: str,
        version: int,
        expected: Alias | None,
        reason: str = "",
    ) -> Alias:
        """Point `alias` at `version` if it still is as `expected` (None: absent)."""
        if version not in self.versions(model):
            raise VersionNotFound(f"model {model!r} has no version {version}")
        document = {
            "version": version,
            "previous_version": expected.version if expected else None,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "reason": reason,
            # This move and no other: two writers of the same move in the same second must
            # not both take a refused retry for their own write landing.
            "move_id": uuid.uuid4().hex,
        }
        path = alias_path(model, check_alias_name(alias))
        data = json.dumps(document, sort_keys=True).encode()
        blob = self._bucket.blob(path)
        try:
            blob.upload_from_string(
                data,
                content_type="application/json",
                if_generation_match=expected.generation if expected else 0,
                timeout=self._timeout,
                retry=self._retry,
            )
        except api_exceptions.PreconditionFailed:
            # A write that landed but whose answer was lost is retried, and the retry is
            # refused: the alias then holds exactly this document, which is this move.
            generation = self._generation_holding(path, data)
            if generation is None:
                raise AliasConflict(
                    f"alias {alias!r} of {model!r} changed since it was read: "
                    f"it does not point at version {version} by this move"
                ) from None
            return Alias(alias, version, generation, document)
        return Alias(alias, version, int(blob.generation), document)

    def promote(
        self, model: str, version: int, alias: str = SERVING_ALIAS, reason: str = ""
    ) -> Alias:
        return self.set_alias(model, alias, version, self.alias(model, alias), reason)

    def rollback(
        self, model: str, alias: str = SERVING_ALIAS, to_version: int | None = None
    ) -> Alias:
        """Point the alias back at `to_version`, by default the version it held before."""
        current = self.alias(model, alias)
        if current is None:
            raise AliasNotFound(f"model {model!r} has no alias {alias!r} to roll back")
        target = to_version if to_version is not None else current.document.get("previous_version")
        if target is None:
            raise AliasNotFound(f"alias {alias!r} of {model!r} has no previous version")
        return self.set_alias(
            model, alias, int(target), current, f"rollback from {current.version}"
        )

    # Documents changed by compare-and-swap (a model's training settings) ----------------

    def document(self, path: str) -> tuple[dict[str, Any] | None, int]:
        """The JSON document at path and its generation (0: absent), read consistently."""
        blob = self._bucket.get_blob(path, timeout=self._timeout, retry=self._retry)
        if blob is None:
            return None, 0
        pinned = self._bucket.blob(blob.name, generation=blob.generation)
        try:
            data = pinned.download_as_bytes(timeout=self._timeout, retry=self._retry)
        except api_exceptions.NotFound:
            return self.document(path)  # replaced between the two reads: read again
        found: dict[str, Any] = json.loads(data)
        return found, int(blob.generation)

    def replace_document(self, path: str, document: dict[str, Any], generation: int) -> int:
        """Write document if the object is still at `generation` (0: absent); its new
        generation, or RegistryConflict when another writer came first."""
        blob = self._bucket.blob(path)
        try:
            blob.upload_from_string(
                json.dumps(document, indent=2, sort_keys=True).encode(),
                content_type="application/json",
                if_generation_match=generation,
                timeout=self._timeout,
                retry=self._retry,
            )
        except api_exceptions.PreconditionFailed:
            raise RegistryConflict(f"{path} changed since it was read: read it again") from None
        return int(blob.generation)

    def delete_document(self, path: str, generation: int) -> None:
        """Delete the object if it is still at `generation`; RegistryConflict if another
        writer changed it; nothing if it is gone already."""
        try:
            self._bucket.blob(path).delete(
                if_generation_match=generation, timeout=self._timeout, retry=self._retry
            )
        except api_exceptions.PreconditionFailed:
            raise RegistryConflict(f"{path} changed since it was read: read it again") from None
        except api_exceptions.NotFound:
            pass  # deleted already: by this call's retry, or by another writer

    def document_generation(self, path: str) -> int:
        """Just the object's generation (0: absent): a cheap check whether it changed."""
        blob = self._bucket.get_blob(path, timeout=self._timeout, retry=self._retry)
        return 0 if blob is None else int(blob.generation)

    # Objects ------------------------------------------------------------------------

    def _create(self, path: str, data: bytes, content_type: str) -> bool:
        """Create the object only if absent; False when it already exists."""
        return create_if_absent(self._bucket, path, data, content_type, self._timeout, self._retry)

    def _generation_holding(self, path: str, data: bytes) -> int | None:
        """The generation of the object at path if it holds exactly data, else None."""
        blob = self._bucket.blob(path)
        try:
            found = blob.download_as_bytes(timeout=self._timeout, retry=self._retry)
        except api_exceptions.NotFound:
            return None
        return int(blob.generation) if found == data else None

    def _read_artifact_file(self, model: str, version: int, filename: str) -> bytes | None:
        """The file within MAX_ARTIFACT_BYTES: one byte past the limit is all that is read."""
        path = version_path(model, version, filename)
        limit = self._max_artifact_bytes
        try:
            data: bytes = self._bucket.blob(path).download_as_bytes(
                start=0, end=limit, timeout=self._timeout, retry=self._retry
            )
        except api_exceptions.NotFound:
            return None
        if len(data) > limit:
            raise ArtifactError(
                f"{path} is larger than the {limit}-byte limit (MAX_ARTIFACT_BYTES)"
            )
        return data

    def _read(self, path: str) -> bytes | None:
        try:
            data: bytes = self._bucket.blob(path).download_as_bytes(
                timeout=self._timeout, retry=self._retry
            )
        except api_exceptions.NotFound:
            return None
        return data
