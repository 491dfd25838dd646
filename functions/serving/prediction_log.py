"""The prediction log: one record per successful request to `prediction-log` (its record
format: docs/monitoring.md).

The request path encodes its record (about 5 µs) and appends it to a queue; one background
thread publishes them in batches of up to a thousand messages per call. The thread only
joins bytes: building a thousand protobuf messages there would hold the interpreter, which
the requests' event loop waits for, for a millisecond at a time (docs/performance.md).

A prediction never waits for the log and never fails because of it: when the topic is
unavailable or the queue is full, records are dropped and counted in a log line.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import operator
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import orjson
from google.api_core.retry import Retry
from google.pubsub_v1.types import PublishRequest, PubsubMessage

from functions.platform import logs

if TYPE_CHECKING:  # the core imports runtime, which imports this module
    from functions.serving.core import Prediction
    from model.artifact import ModelArtifact

COMPONENT = "prediction_log"
FLUSH_SECONDS = 0.1
# Records waiting for the thread; past this (the topic is slow or down) new ones are dropped,
# so memory stays bounded whatever happens to Pub/Sub.
MAX_PENDING = 20_000
# Messages per publish call: Pub/Sub takes at most 1,000 messages or 10 MB per request.
BATCH_MESSAGES = 1_000
BATCH_BYTES = 8 * 1024 * 1024
# How often, at most, a line reports dropped records.
REPORT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 2.0
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_RAW_MESSAGE = PubsubMessage.pb()
_RAW_REQUEST = PublishRequest.pb()


class Entry(NamedTuple):
    """What a record is made of. Only the (sampled) rows are kept, never the request's whole
    arrays."""

    transport: str
    request_id: str
    model: ModelArtifact
    instances: np.ndarray
    predictions: np.ndarray
    instance_count: int  # before sampling; a feedback record's: its own
    latency_ms: float
    time: float
    # A model that takes feedback logs every instance, in records of at most max_instances:
    # this record's first index in its request, and the request's instance count.
    first_index: int | None = None
    request_instances: int = 0


class PredictionLog:
    """A queue of records and the thread that publishes them to one topic."""

    def __init__(
        self,
        topic_path: str,
        publish_factory: Callable[[], Callable[..., Any]],
        sample_rate: float,
        max_instances: int,
        publish_timeout: float,
        takes_feedback: Callable[[str], bool] = lambda model: False,
    ) -> None:
        self._topic_path = topic_path
        self._topic_field = _RAW_REQUEST(topic=topic_path).SerializeToString()
        self._sample_rate = sample_rate
        self._max_instances = max_instances
        self._publish_timeout = publish_timeout
        self._takes_feedback = takes_feedback
        # Publish(request, timeout=, metadata=) on a channel of the log's own, made by the
        # thread, taking the request already serialized (`encoded`): no GAPIC layers, no
        # protobuf work in the thread.
        self._publish_factory = publish_factory
        self._publish_call: Callable[..., Any] | None = None
        self._pending: deque[bytes] = deque()  # encoded records
        # Its own generator: sampling never moves the process's global random state.
        self._random = random.Random()  # noqa: S311 - picks a sample to log, not a secret
        self._rows = np.random.default_rng()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopping = threading.Event()
        self.published = 0
        self.dropped = 0
        self._unreported = 0
        self._last_error = ""
        self._reported_at = -REPORT_SECONDS  # the first drop is reported at once

    def record(self, prediction: Prediction, latency_ms: float) -> None:
        """Queue one successful request's record, if sampled; never raises, never blocks.
        A model that takes feedback is never sampled: a label may name any instance."""
        if self._takes_feedback(prediction.model.name):
            self._record_every_instance(prediction, latency_ms)
            return
        if self._sample_rate < 1.0 and self._random.random() >= self._sample_rate:
            return
        if self._full():
            return
        instances, predictions = prediction.instances, prediction.predictions
        if len(predictions) > self._max_instances:
            # A uniform sample, in request order; the record keeps the total count. numpy's
            # draw: 17 µs for 1,000 of 10,000 rows, where random.sample took 220.
            rows = np.sort(self._rows.choice(len(predictions), self._max_instances, replace=False))
            instances, predictions = instances[rows], predictions[rows]
        entry = Entry(
            prediction.transport,
            prediction.request_id,
            prediction.model,
            instances,
            predictions,
            len(prediction.predictions),
            latency_ms,
            time.time(),
        )
        self._queue(entry)

    def records(self, prediction: Prediction) -> int:
        """How many records `record` makes of a request, at most (one, unless every instance
        is logged): what it costs to encode them."""
        if not self._takes_feedback(prediction.model.name):
            return 1
        return -(-len(prediction.predictions) // self._max_instances)

    def _record_every_instance(self, prediction: Prediction, latency_ms: float) -> None:
        total, now = len(prediction.predictions), time.time()
        for first in range(0, total, self._max_instances):
            if self._full():
                return
            rows = slice(first, first + self._max_instances)
            predictions = prediction.predictions[rows]
            entry = Entry(
                prediction.transport,
                prediction.request_id,
                prediction.model,
                prediction.instances[rows],
                predictions,
                len(predictions),
                latency_ms,
                now,
                first_index=first,
                request_instances=total,
            )
            self._queue(entry)

    def _full(self) -> bool:
        """Whether the queue is full; then the record is counted as dropped."""
        if len(self._pending) < MAX_PENDING:
            return False
        self.dropped += 1
        self._unreported += 1
        self._last_error = f"more than {MAX_PENDING} records waiting to be published"
        return True

    def _queue(self, entry: Entry) -> None:
        self._pending.append(encoded(entry))
        if self._thread is None:
            self._start()

    def stop(self) -> None:
        """Publish what is queued (bounded wait) and end the thread."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_STOP_TIMEOUT_SECONDS)
        self._report(force=True)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="prediction-log", daemon=True
                )
                self._thread.start()
                atexit.register(self.stop)

    def _run(self) -> None:
        while not self._stopping.wait(FLUSH_SECONDS):
            self._flush()
            self._report()
        self._flush()

    def _flush(self) -> None:
        # Every record queued now, taken in one C call (each popleft is atomic): the thread
        # holds the interpreter as briefly as it can, since a request arriving meanwhile
        # waits for it.
        pending = self._pending
        records = list(map(operator.call, itertools.repeat(pending.popleft, len(pending))))
        for batch in _batches(records):
            self._publish(batch)

    def _publish(self, batch: list[bytes]) -> None:
        try:
            if self._publish_call is None:
                self._publish_call = Retry(timeout=self._publish_timeout)(self._publish_factory())
            self._publish_call(
                self._topic_field + b"".join(batch),
                timeout=self._publish_timeout,
                metadata=(("x-goog-request-params", f"topic={self._topic_path}"),),
            )
        except Exception as error:  # whatever went wrong, the log must not stop serving
            self.dropped += len(batch)
            self._unreported += len(batch)
            self._last_error = f"{type(error).__name__}: {error}"
            return
        self.published += len(batch)

    def _report(self, force: bool = False) -> None:
        """One line for the records dropped since the last one, at most every few seconds."""
        now = time.monotonic()
        if not self._unreported or (not force and now - self._reported_at < REPORT_SECONDS):
            return
        dropped, self._unreported = self._unreported, 0
        self._reported_at = now
        logs.warning(
            f"prediction log: {dropped} records dropped ({self._last_error})",
            component=COMPONENT,
            dropped=dropped,
            dropped_total=self.dropped,
            published_total=self.published,
            topic=self._topic_path,
        )


def message(entry: Entry) -> Any:
    """The Pub/Sub message of one record, as a protobuf (what `encoded` holds)."""
    return _RAW_REQUEST.FromString(encoded(entry)).messages[0]


def record_json(entry: Entry) -> bytes:
    """The record itself (docs/monitoring.md), the message's data."""
    model = entry.model
    record = {
        "request_id": entry.request_id,
        "transport": entry.transport,
        "model": {"name": model.name, "version": model.version},
        "features": model.features,
        "instances": _contiguous(entry.instances),
        "predictions": _contiguous(entry.predictions),
        "instance_count": entry.instance_count,
        "latency_ms": round(entry.latency_ms, 3),
        "time": rfc3339(entry.time),
    }
    if entry.first_index is not None:
        record.update(
            feedback=True, first_index=entry.first_index, request_instances=entry.request_instances
        )
    return orjson.dumps(record, option=_JSON_OPTIONS)


@functools.lru_cache(maxsize=128)
def _attributes(name: str, version: int, feedback: bool) -> bytes:
    """The message's attributes, serialized: its map field's entries."""
    attributes = {"model": name, "model_version": str(version)}
    if feedback:  # join_feedback's subscription takes these records only
        attributes["feedback"] = "true"
    serialized: bytes = _RAW_MESSAGE(attributes=attributes).SerializeToString(deterministic=True)
    return serialized


def _contiguous(array: np.ndarray) -> np.ndarray:
    """orjson serializes C-contiguous arrays only (a column reordering makes a view)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def rfc3339(timestamp: float) -> str:
    """UTC with microseconds, as the record's `time`."""
    seconds = logs.utc_second(int(timestamp))
    return f"{seconds}.{int(timestamp % 1 * 1_000_000):06d}Z"


def encoded(entry: Entry) -> bytes:
    """The record as a serialized PublishRequest holding its one message. Serialized requests
    concatenated are one request with all their messages (protobuf appends the repeated
    field), so a batch is these bytes joined after the topic's. Framed by hand: building the
    protobuf objects cost the request path three times as much."""
    model = entry.model
    data = record_json(entry)
    pubsub_message = (
        _MESSAGE_DATA
        + _varint(len(data))
        + data
        + _attributes(model.name, model.version, entry.first_index is not None)
    )
    return _REQUEST_MESSAGES + _varint(len(pubsub_message)) + pubsub_message


# The tags of PubsubMessage.data (field 1) and PublishRequest.messages (field 2), both
# length-delimited (wire type 2).
_MESSAGE_DATA = bytes([1 << 3 | 2])
_REQUEST_MESSAGES = bytes([2 << 3 | 2])


def _varint(value: int) -> bytes:
    """A length as protobuf writes it: seven bits a byte, the lowest first."""
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE = tuple(bytes([value]) for value in range(0x80))


def _batches(records: list[bytes]) -> Iterator[list[bytes]]:
    if len(records) <= BATCH_MESSAGES and sum(map(len, records)) <= BATCH_BYTES:
        if records:  # the usual flush: one batch, known without a Python loop over it
            yield records
        return
    batch: list[bytes] = []
    size = 0
    for record in records:
        if batch and (len(batch) >= BATCH_MESSAGES or size + len(record) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += len(record)
    if batch:
        yield batch
