"""Ground truth: labels for past predictions, each joined once with its prediction
(docs/feedback.md).

Everything lives in the registry's bucket and is written create-only (`ifGenerationMatch=0`),
so a write that finds its object already there learns that another delivery did it first:

    feedback/predictions/<key>/<first index>.json  a log record of a model that takes feedback
    feedback/labels/<key>/<index>.json             a label that came before its prediction
    feedback/outcomes/<key>/<index>.json           joined, or unjoinable and why: decided once
    feedback/invalid/<message id>.json             a feedback message that could not be read
    labelled/<model>/date=<label date>/<key>-<index>.json   the joined row

`<key>` is a hash of the request id: ids are the clients' own strings, of any length.

Exactly once: a label and its prediction may arrive in either order, concurrently, and
each more than once. A label whose prediction is here claims the instance's outcome at once
(with the label that waited for it, if one did); one claim succeeds, whatever the number of
claimants. A label whose prediction is not here is kept, and a prediction record is kept;
each side, once written, looks for the other. Reads after writes are strongly consistent in
Cloud Storage, so of two concurrent arrivals at least one sees both and claims. The outcome
holds the label it was claimed with, and the row is a function of that label and the first
prediction record alone, at a path fixed by them, so the claimant (or any later delivery, if
it failed in between) writes it once.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from model.gcs import create_if_absent

PREDICTIONS = "feedback/predictions/"
LABELS = "feedback/labels/"
OUTCOMES = "feedback/outcomes/"
INVALID = "feedback/invalid/"
LABELLED = "labelled/"
FIELDS = ("request_id", "labels", "index", "label")
MAX_REQUEST_ID_CHARS = 1024
# Unjoinable reasons, as `mlctl feedback --status` counts them.
OUT_OF_RANGE = "out_of_range"
EXPIRED = "expired"
INVALID_MESSAGE = "invalid_message"
# Instances handled at once: each is a few storage calls that mostly wait.
WORKERS = 16


class FeedbackError(ValueError):
    """A feedback body that cannot be read; the message names what is wrong."""


@dataclass(frozen=True)
class Feedback:
    """Labels of one request's instances, by index."""

    request_id: str
    labels: dict[int, float]


def parse_feedback(document: Any, max_labels: int) -> Feedback:
    """`{"request_id", "labels": [...]}` or `{"request_id", "index", "label"}`; FeedbackError
    naming the first thing wrong."""
    if not isinstance(document, dict):
        raise FeedbackError("the body must be a JSON object")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise FeedbackError(f"unknown fields {unknown}; known: {list(FIELDS)}")
    request_id = document.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise FeedbackError("request_id: a non-empty string is required")
    if len(request_id) > MAX_REQUEST_ID_CHARS:
        raise FeedbackError(f"request_id: at most {MAX_REQUEST_ID_CHARS} characters")
    if "labels" in document:
        if "index" in document or "label" in document:
            raise FeedbackError('give "labels", or "index" and "label": not both')
        labels = document["labels"]
        if not isinstance(labels, list) or not labels:
            raise FeedbackError("labels: a non-empty array of numbers is required")
        if len(labels) > max_labels:
            raise FeedbackError(f"labels: at most {max_labels}, one per instance")
        return Feedback(
            request_id, {i: _finite(label, f"labels[{i}]") for i, label in enumerate(labels)}
        )
    if "index" not in document or "label" not in document:
        raise FeedbackError('give "labels", or "index" and "label"')
    index = document["index"]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise FeedbackError("index: must be a whole number, 0 or more")
    return Feedback(request_id, {index: _finite(document["label"], "label")})


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FeedbackError(f"{where}: not a number")
    number = float(value)
    if not math.isfinite(number):
        raise FeedbackError(f"{where}: not a finite number")
    return number


def request_key(request_id: str) -> str:
    return hashlib.blake2b(request_id.encode(), digest_size=16).hexdigest()


def row_path(model: str, label_time: str, key: str, index: int) -> str:
    return f"{LABELLED}{model}/date={label_time[:10]}/{key}-{index}.json"


@dataclass
class Tally:
    """What one delivery (or a sweep) did, for its log line."""

    joined: int = 0
    pending: int = 0
    unjoinable: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    conflicts: int = 0  # duplicates with another value: the first label stands

    def count(self, outcome: str | None) -> None:
        if outcome == "joined":
            self.joined += 1
        elif outcome is None:
            self.pending += 1
        else:
            self.unjoinable[outcome] += 1

    def compare(self, decided: Mapping[str, Any] | None, mine: Mapping[str, Any] | None) -> None:
        """Count `mine` as a duplicate or a conflict if the instance was labelled by another
        message (`decided`)."""
        if decided is None or mine is None or decided["message_id"] == mine["message_id"]:
            return
        if decided["label"] == mine["label"]:
            self.duplicates += 1
        else:
            self.conflicts += 1

    def add(self, other: Tally) -> None:
        self.joined += other.joined
        self.pending += other.pending
        self.unjoinable.update(other.unjoinable)
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts

    def fields(self) -> dict[str, Any]:
        return {
            "joined": self.joined,
            "pending": self.pending,
            "unjoinable": dict(self.unjoinable),
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
        }


@dataclass(frozen=True)
class _Chunks:
    """The prediction records stored for one request: its instances by index."""

    records: tuple[Mapping[str, Any], ...]

    @property
    def total(self) -> int | None:
        """How many instances the request had; None before any record arrived."""
        return int(self.records[0]["request_instances"]) if self.records else None

    def decides(self, index: int) -> bool:
        """Whether these records settle the instance: they hold it, or the request had
        fewer instances."""
        total = self.total
        return (total is not None and index >= total) or self.covering(index) is not None

    def covering(self, index: int) -> tuple[Mapping[str, Any], int] | None:
        for record in self.records:
            offset = index - int(record["first_index"])
            if 0 <= offset < len(record["predictions"]):
                return record, offset
        return None


@dataclass(frozen=True)
class FeedbackStatus:
    labels: int  # distinct (request, index) pairs labelled within the retention window
    joined_by_model: dict[str, int]  # rows under labelled/, kept beyond the window
    unjoinable: dict[str, int]  # by reason, within the window
    pending: int

    def to_document(self) -> dict[str, Any]:
        return {
            "joined": sum(self.joined_by_model.values()),
            "joined_by_model": self.joined_by_model,
            "pending": self.pending,
            "unjoinable": sum(self.unjoinable.values()),
            "unjoinable_by_reason": self.unjoinable,
            "labels": self.labels,
        }


class FeedbackStore:
    """The join's objects in one bucket, and the join itself."""

    def __init__(
        self, client: storage.Client, bucket: str, timeout: float, retry: Retry | None = None
    ) -> None:
        self._client = client
        self._bucket = client.bucket(bucket)
        self._timeout = timeout
        # Every write is a create with a generation precondition: retrying it is safe.
        self._retry = retry if retry is not None else DEFAULT_RETRY.with_timeout(timeout)
        self._workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="feedback")

    # Arrivals -------------------------------------------------------------------------

    def add_prediction(self, record: Mapping[str, Any], data: bytes) -> Tally:
        """Keep a log record of a model that takes feedback (`data`, its bytes as logged),
        then join the labels that waited for it."""
        key = request_key(str(record["request_id"]))
        first, count = int(record["first_index"]), len(record["predictions"])
        self._create(f"{PREDICTIONS}{key}/{first}.json", data)
        total = int(record["request_instances"])
        # The labels this record decides: those of its instances, and any out of range.
        waiting = [
            index
            for index in map(_index_of, self._names(f"{LABELS}{key}/"))
            if first <= index < first + count or index >= total
        ]
        if not waiting:
            return Tally()
        # Each of them is this record's, or out of its request's range: it decides them all.
        return self._resolve_all(key, waiting, _Chunks((record,)), None)

    def add_labels(self, feedback: Feedback, label_time: str, message_id: str) -> Tally:
        """Join each instance whose prediction is here, with the label that waited for it if
        one did, else this one; keep the others' labels until their prediction comes."""
        key = request_key(feedback.request_id)
        mine = {
            index: {
                "request_id": feedback.request_id,
                "index": index,
                "label": label,
                "label_time": label_time,
                "message_id": message_id,
            }
            for index, label in feedback.labels.items()
        }
        # The two reads at once: the request's prediction, and the labels that wait for it.
        listing = self._workers.submit(self._names, f"{LABELS}{key}/")
        chunks = self._chunks_for(key, mine)
        waiting = set(map(_index_of, listing.result()))
        now = [index for index in mine if chunks.decides(index)]
        known = {index: mine[index] for index in now if index not in waiting}
        tally = Tally()
        decided = self._decide(key, now, chunks, None, known)
        for index, (outcome, label) in zip(now, decided, strict=True):
            tally.count(outcome)
            tally.compare(label, mine[index])
        later = [index for index in mine if index not in now]
        if not later:
            return tally
        # Kept, then the prediction looked for again: it may have come meanwhile.
        stored: dict[int, Mapping[str, Any]] = {}
        for label in self._workers.map(lambda index: self._keep_label(key, mine[index]), later):
            stored[int(label["index"])] = label
            tally.compare(label, mine[int(label["index"])])
        chunks = self._chunks_for(key, stored)
        for outcome, _ in self._decide(key, list(stored), chunks, None, stored):
            tally.count(outcome)
        return tally

    def add_invalid(self, message_id: str, error: str, data: bytes, received: str) -> None:
        """Keep a message that is not feedback: counted as unjoinable, never dropped."""
        document = {
            "message_id": message_id,
            "error": error,
            "received": received,
            "data": data[:4096].decode(errors="replace"),
        }
        self._create(f"{INVALID}{request_key(message_id)}.json", orjson.dumps(document))

    # The end of the window ------------------------------------------------------------

    def sweep(self, now: datetime, retention: timedelta) -> Tally:
        """Decide the labels older than the retention window that still wait: joined if
        their prediction is here after all, else unjoinable (`expired`)."""
        decided = {_pair_of(name) for name in self._names(OUTCOMES)}
        overdue: dict[str, list[int]] = {}
        tally = Tally()
        for blob in self._client.list_blobs(self._bucket, prefix=LABELS, timeout=self._timeout):
            pair = _pair_of(blob.name)
            if pair in decided:
                continue
            if blob.time_created > now - retention:
                tally.pending += 1
            else:
                overdue.setdefault(pair[0], []).append(pair[1])
        for key, indexes in overdue.items():
            tally.add(self._resolve_all(key, indexes, self._chunks(key), EXPIRED))
        return tally

    def status(self) -> FeedbackStatus:
        waiting = {_pair_of(name) for name in self._names(LABELS)}
        decided: set[tuple[str, int]] = set()
        unjoinable: Counter[str] = Counter()
        for blob in self._client.list_blobs(self._bucket, prefix=OUTCOMES, timeout=self._timeout):
            decided.add(_pair_of(blob.name))
            outcome = (blob.metadata or {}).get("outcome", "joined")
            if outcome != "joined":
                unjoinable[outcome] += 1
        invalid = sum(1 for _ in self._names(INVALID))
        if invalid:
            unjoinable[INVALID_MESSAGE] = invalid
        joined: Counter[str] = Counter(name.split("/")[1] for name in self._names(LABELLED))
        pending = len(waiting - decided)
        return FeedbackStatus(len(waiting | decided), dict(joined), dict(unjoinable), pending)

    def close(self) -> None:
        self._workers.shutdown(wait=True)

    # The join -------------------------------------------------------------------------

    def _resolve_all(
        self, key: str, indexes: Iterable[int], chunks: _Chunks, otherwise: str | None
    ) -> Tally:
        """Decide stored labels: each is read."""
        tally = Tally()
        for outcome, _ in self._decide(key, indexes, chunks, otherwise, {}):
            tally.count(outcome)
        return tally

    def _decide(
        self,
        key: str,
        indexes: Iterable[int],
        chunks: _Chunks,
        otherwise: str | None,
        labels: Mapping[int, Mapping[str, Any]],
    ) -> Iterable[tuple[str | None, Mapping[str, Any] | None]]:
        """`_resolve` for each instance, at once; `labels`: those to use, else the stored."""
        return self._workers.map(
            lambda i: self._resolve(key, i, chunks, otherwise, labels.get(i)), indexes
        )

    def _resolve(
        self,
        key: str,
        index: int,
        chunks: _Chunks,
        otherwise: str | None,
        label: Mapping[str, Any] | None = None,
    ) -> tuple[str | None, Mapping[str, Any] | None]:
        """Join one labelled instance if its prediction is here, or decide it unjoinable;
        `otherwise`: the reason to give if it would still wait. `label`: the label to claim
        with, else the stored one. The outcome (None while it waits) and the label it was
        decided with, which is another delivery's if that one claimed first."""
        found = chunks.covering(index)
        if found is None:
            total = chunks.total
            reason = OUT_OF_RANGE if total is not None and index >= total else otherwise
            if reason is None:
                return None, None
            claim = {"outcome": reason, "total": total, "label": label}
            if self._claim_outcome(key, index, claim):
                return reason, label
            decided = self._read_json(f"{OUTCOMES}{key}/{index}.json") or {}
            return str(decided.get("outcome")), decided.get("label")
        label = label or self._read_json(f"{LABELS}{key}/{index}.json")
        if label is None:  # the label was not written after all (a failed delivery)
            return None, None
        record, offset = found
        if not self._claim_outcome(key, index, {"outcome": "joined", "label": label}):
            decided = self._read_json(f"{OUTCOMES}{key}/{index}.json") or {}
            if decided.get("outcome") != "joined":
                return str(decided.get("outcome")), decided.get("label")
            label = decided["label"]
        # Written by the claimant, or by a later delivery if it failed in between.
        row = _row(record, offset, label)
        self._create(
            row_path(str(row["model"]), str(row["label_time"]), key, index),
            orjson.dumps(row) + b"\n",
        )
        return "joined", label

    def _keep_label(self, key: str, label: Mapping[str, Any]) -> Mapping[str, Any]:
        """Keep a label until its prediction comes; the first kept stands."""
        path = f"{LABELS}{key}/{label['index']}.json"
        if self._create(path, orjson.dumps(label)):
            return label
        return self._read_json(path) or label  # None: deleted since, by the lifecycle

    def _claim_outcome(self, key: str, index: int, outcome: dict[str, Any]) -> bool:
        return self._create(
            f"{OUTCOMES}{key}/{index}.json",
            orjson.dumps(outcome),
            metadata={"outcome": str(outcome["outcome"])},
        )

    def _chunks_for(self, key: str, indexes: Iterable[int]) -> _Chunks:
        """The records that decide `indexes`: most requests fit one record, read directly;
        else every record of the request, listed."""
        first = self._read_json(f"{PREDICTIONS}{key}/0.json")
        if first is not None:
            chunks = _Chunks((first,))
            total = chunks.total or 0
            if all(index >= total or chunks.covering(index) for index in indexes):
                return chunks
        return self._chunks(key)

    def _chunks(self, key: str) -> _Chunks:
        names = self._names(f"{PREDICTIONS}{key}/")
        records = [self._read_json(name) for name in names]
        return _Chunks(tuple(record for record in records if record is not None))

    # Storage --------------------------------------------------------------------------

    def _create(self, path: str, data: bytes, metadata: dict[str, str] | None = None) -> bool:
        """Create the object if absent; False when it is there already."""
        return create_if_absent(
            self._bucket, path, data, "application/json", self._timeout, self._retry, metadata
        )

    def _read_json(self, path: str) -> dict[str, Any] | None:
        try:
            data = self._bucket.blob(path).download_as_bytes(
                timeout=self._timeout, retry=self._retry
            )
        except api_exceptions.NotFound:
            return None
        document: dict[str, Any] = orjson.loads(data)
        return document

    def _names(self, prefix: str) -> list[str]:
        blobs = self._client.list_blobs(
            self._bucket, prefix=prefix, fields="items(name),nextPageToken", timeout=self._timeout
        )
        return [blob.name for blob in blobs]


def _row(record: Mapping[str, Any], offset: int, label: Mapping[str, Any]) -> dict[str, Any]:
    """The joined row (docs/feedback.md): what an analyst needs without another lookup."""
    model = record["model"]
    return {
        "request_id": label["request_id"],
        "index": label["index"],
        "label": label["label"],
        "prediction": record["predictions"][offset],
        "model": model["name"],
        "version": model["version"],
        "features": record["instances"][offset],
        "feature_names": record["features"],
        "request_time": record["time"],
        "label_time": label["label_time"],
        "transport": record["transport"],
    }


def _index_of(name: str) -> int:
    return int(name.rsplit("/", 1)[1].removesuffix(".json"))


def _pair_of(name: str) -> tuple[str, int]:
    """(key, index) of a labels/ or outcomes/ object."""
    _, _, key, leaf = name.rsplit("/", 3)
    return key, int(leaf.removesuffix(".json"))
