"""One record per uploaded object generation: who works on it, its version, its outcome.

Pub/Sub delivers at least once, and an attempt can die anywhere. The record, kept at
models/<model>/runs/<object>#<generation>.json and changed only by compare-and-swap on its
generation, makes the handling of one upload happen once:

- absent: the attempt creates it (ifGenerationMatch=0) and owns the run;
- `running` with a recent heartbeat: another attempt is at work; wait for its outcome;
- `running`, silent for longer than the lease: that attempt is presumed dead; take over,
  keeping the version it recorded (or finding it in the registry's lineage);
- `done`: the outcome is recorded; a redelivery publishes it again and changes nothing.

Each step of the owner (before registering, after registering, at the end) is a
compare-and-swap, so an owner that lost the run to another attempt stops at its next step.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

RUNNING = "running"
DONE = "done"
_POLL_SECONDS = 0.25


class RunLost(Exception):
    """Another attempt took over this run: stop without writing anything more."""


class RunInProgress(Exception):
    """Another live attempt still works on this run; retry the delivery later."""


@dataclass(frozen=True)
class Claim:
    """This attempt's hold on a run, valid while `generation` is the record's generation."""

    path: str
    generation: int
    record: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.record.get("state") == DONE

    @property
    def version(self) -> int | None:
        version = self.record.get("version")
        return None if version is None else int(version)

    @property
    def resumed(self) -> bool:
        """Whether an earlier attempt worked on this run before (and may have registered)."""
        return int(self.record.get("attempts", 1)) > 1

    @property
    def outcome(self) -> dict[str, Any] | None:
        outcome = self.record.get("outcome")
        return outcome if isinstance(outcome, dict) else None


def run_path(model: str, object_name: str, generation: int) -> str:
    return f"models/{model}/runs/{urllib.parse.quote(object_name, safe='')}#{generation}.json"


class RunLedger:
    """Run records in the registry's bucket."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        lease_seconds: float,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bucket = client.bucket(bucket)
        self._lease = lease_seconds
        self._timeout = timeout
        self._retry: Retry = DEFAULT_RETRY.with_timeout(timeout)
        self._clock = clock
        self._owner = uuid.uuid4().hex

    def claim(self, path: str, dataset: str, wait_seconds: float | None = None) -> Claim:
        """Own the run at `path`, or return it done; RunInProgress if another attempt still
        works on it after `wait_seconds` (default: the lease)."""
        deadline = self._clock() + (self._lease if wait_seconds is None else wait_seconds)
        while True:
            found = self._read(path)
            if found is None:
                record = {"dataset": dataset, "state": RUNNING, "attempts": 1, "version": None}
                claim = self._write(path, record, if_generation_match=0)
                if claim is not None:
                    return claim
                continue  # another attempt created it first: read theirs
            claim = found
            if claim.done:
                return claim
            silent = self._clock() - float(claim.record.get("heartbeat", 0.0))
            if silent > self._lease:
                attempts = int(claim.record.get("attempts", 1)) + 1
                taken = self._write(path, {**claim.record, "attempts": attempts}, claim.generation)
                if taken is not None:
                    return taken
                continue  # someone else took over or finished meanwhile
            if self._clock() >= deadline:
                raise RunInProgress(
                    f"another attempt is working on {dataset} (last heard of {silent:.1f} s ago)"
                )
            time.sleep(_POLL_SECONDS)

    def heartbeat(self, claim: Claim, **changes: Any) -> Claim:
        """Record progress (and `changes`); RunLost if another attempt took the run over."""
        updated = self._write(claim.path, {**claim.record, **changes}, claim.generation)
        if updated is None:
            raise RunLost(f"{claim.record.get('dataset')}: another attempt took over this run")
        return updated

    def finish(self, claim: Claim, outcome: dict[str, Any]) -> dict[str, Any]:
        """Record the outcome; if another attempt finished first, theirs is the outcome."""
        updated = self._write(
            claim.path, {**claim.record, "state": DONE, "outcome": outcome}, claim.generation
        )
        if updated is not None:
            return outcome
        current = self._read(claim.path)
        if current is not None and current.outcome is not None:
            return current.outcome
        raise RunLost(f"{claim.record.get('dataset')}: another attempt took over this run")

    def _read(self, path: str) -> Claim | None:
        blob = self._bucket.get_blob(path, timeout=self._timeout, retry=self._retry)
        if blob is None:
            return None
        pinned = self._bucket.blob(path, generation=blob.generation)
        try:
            data = pinned.download_as_bytes(timeout=self._timeout, retry=self._retry)
        except api_exceptions.NotFound:
            return self._read(path)  # replaced between the two reads: read again
        return Claim(path, int(blob.generation), json.loads(data))

    def _write(self, path: str, record: dict[str, Any], if_generation_match: int) -> Claim | None:
        """Write if the record is still at that generation; None when it is not."""
        record = {**record, "owner": self._owner, "heartbeat": self._clock()}
        blob = self._bucket.blob(path)
        try:
            blob.upload_from_string(
                json.dumps(record, sort_keys=True).encode(),
                content_type="application/json",
                if_generation_match=if_generation_match,
                timeout=self._timeout,
                retry=self._retry,
            )
        except api_exceptions.PreconditionFailed:
            return None
        return Claim(path, int(blob.generation), record)
