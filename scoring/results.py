"""A scoring job's output prefix, on Cloud Storage or local: its result shards, found,
replaced (docs/scoring.md)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from google.cloud import storage

KINDS = ("predictions", "dead-letter")


class ResultStore:
    """`PREFIX/predictions-*` and `PREFIX/dead-letter-*` of a gs:// or local prefix."""

    def __init__(self, client: storage.Client, output: str) -> None:
        self._output = output.rstrip("/")
        self._bucket: storage.Bucket | None = None
        if self._output.startswith("gs://"):
            bucket, _, self._prefix = self._output.removeprefix("gs://").partition("/")
            self._bucket = client.bucket(bucket)
        else:
            self._prefix = self._output

    def existing(self) -> list[str]:
        """The result shards there now, by full name."""
        if self._bucket is None:
            return sorted(
                str(path) for kind in KINDS for path in Path(self._prefix).glob(f"{kind}-*")
            )
        return sorted(
            f"gs://{self._bucket.name}/{blob.name}"
            for kind in KINDS
            for blob in self._bucket.list_blobs(prefix=f"{self._prefix}/{kind}-")
        )

    def replace(self, old: Sequence[str], shards: Sequence[Path]) -> list[str]:
        """The new shards in, then the old ones that they did not overwrite out: the prefix
        never holds nothing while it changes."""
        written = [f"{self._output}/{shard.name}" for shard in shards]
        for shard, name in zip(shards, written, strict=True):
            if self._bucket is None:
                Path(self._prefix).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shard, name)
            else:
                self._bucket.blob(self._object(name)).upload_from_filename(
                    str(shard), content_type="application/jsonl"
                )
        for name in sorted(set(old) - set(written)):
            if self._bucket is None:
                Path(name).unlink(missing_ok=True)
            else:
                self._bucket.blob(self._object(name)).delete()
        return written

    def _object(self, name: str) -> str:
        return name.removeprefix(f"gs://{self._bucket.name if self._bucket else ''}/")
