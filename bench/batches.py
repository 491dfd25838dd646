"""Batches end to end and their codec bound, trial for trial in turn.

The host's speed drifts within seconds on a shared machine; alternating an HTTP trial with
a codec trial of the same body keeps their ratio honest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from bench import codec, http_batch
from bench.payloads import payload
from bench.timing import median
from model.artifact import ModelArtifact

TRIALS = 5
CONTENT_TYPES = {"json": "application/json", "csv": "text/csv"}


def measure(url: str, model: ModelArtifact, sizes: Sequence[int]) -> dict[str, dict[str, Any]]:
    """{"http_batch": ..., "codec_bound": ...} for every size, JSON and CSV."""
    http: dict[str, list[int]] = {"json": [], "csv": []}
    bound: dict[str, list[int]] = {"json": [], "csv": []}
    client = http_batch.BatchClient(url)
    try:
        with contextlib.closing(codec.CodecWorker(model, sizes)) as worker:
            for kind, content_type in CONTENT_TYPES.items():
                for rows in sizes:
                    body = getattr(payload(rows, model.features), kind)
                    http_batch.check(client, body, content_type, rows)  # and warm up
                    http_trials, codec_trials = [], []
                    for _ in range(TRIALS):
                        http_trials.append(http_batch.trial(client, body, content_type, rows))
                        codec_trials.append(worker.trial(kind, rows))
                    http[kind].append(round(median(http_trials)))
                    bound[kind].append(round(median(codec_trials)))
    finally:
        client.close()
    return {
        "http_batch": {
            "instances": list(sizes),
            "json_rows_per_s": http["json"],
            "csv_rows_per_s": http["csv"],
        },
        "codec_bound": {
            "instances": list(sizes),
            "gc": "imports frozen (gc.freeze), requests collected as usual",
            "rows_per_s": bound["json"],
            "csv_rows_per_s": bound["csv"],
        },
    }
