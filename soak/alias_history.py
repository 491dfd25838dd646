"""Every generation an object ever had, read back from the bucket: the history of an alias
(docs/registry.md: each alias document names the version it replaced) and proof that a
version's model.json was written once.

The bucket keeps noncurrent generations once object versioning is on, as the Terraform
bucket has it; a scenario turns it on in the emulator before it writes. The registry itself
never reads them.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from google.cloud import storage

from model.registry import alias_path


@dataclass(frozen=True)
class Generation:
    generation: int
    created: float  # the emulator's time of the write (time.time() of this machine)
    data: bytes


@dataclass(frozen=True)
class AliasEntry:
    generation: int
    created: float
    version: int
    previous_version: int | None
    reason: str


def keep_every_generation(client: storage.Client, bucket: str) -> None:
    """Turn object versioning on: an overwritten generation stays readable."""
    found = client.get_bucket(bucket)
    found.versioning_enabled = True
    found.patch()


def generations(client: storage.Client, bucket: str, name: str) -> list[Generation]:
    """Every generation of object name, oldest first."""
    # fake-gcs-server reads the parameter only spelled "true"; the client would send "True".
    blobs = client.list_blobs(bucket, prefix=name, versions="true")  # type: ignore[arg-type]
    found = [blob for blob in blobs if blob.name == name]
    return [
        Generation(
            int(blob.generation),
            blob.time_created.timestamp(),
            client.bucket(bucket).blob(name, generation=blob.generation).download_as_bytes(),
        )
        for blob in sorted(found, key=lambda blob: int(blob.generation))
    ]


def alias_history(client: storage.Client, bucket: str, model: str, alias: str) -> list[AliasEntry]:
    """Every document the alias held, oldest first."""
    entries = []
    for written in generations(client, bucket, alias_path(model, alias)):
        document: dict[str, Any] = json.loads(written.data)
        previous = document.get("previous_version")
        entries.append(
            AliasEntry(
                written.generation,
                written.created,
                int(document["version"]),
                None if previous is None else int(previous),
                str(document.get("reason", "")),
            )
        )
    return entries


def broken_links(history: list[AliasEntry]) -> list[str]:
    """Where an entry does not name the version of the one before as the one it replaced."""
    return [
        f"generation {entry.generation} (version {entry.version}) replaced "
        f"{entry.previous_version}, but the alias held {before.version}"
        for before, entry in itertools.pairwise(history)
        if entry.previous_version != before.version
    ]
