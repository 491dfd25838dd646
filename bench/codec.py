"""The ceiling of http_batch: the same bodies decoded, predicted and encoded in one process.

It runs the functions' own request path (`functions.serving.core.predict` on a `Body`, the
success body, `to_json`) with the model at hand instead of the registry's, without a
server, a socket or a log line, in a fresh interpreter that imports
only that path and then freezes what it imported (gc.freeze): otherwise every full
collection walks the modules' objects again, which is the interpreter's cost, not the
codec's (it halves the rate). The parent asks for one trial at a time, so codec and HTTP
trials take turns on a machine whose speed drifts.

    python -m bench.codec 1000 10000    # stdin: the model on one line, then "json 1000"...
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Sequence

from bench.payloads import payload
from bench.rig import ROOT
from bench.timing import throughput
from functions.platform.config import Settings
from functions.platform.json_bodies import to_json
from functions.serving.bodies import CSV, JSON, Body
from functions.serving.core import PredictionRequest, predict
from model.artifact import ModelArtifact, from_json

TRIAL_SECONDS = 0.5

CONTENT_TYPES = {"json": JSON, "csv": CSV}


class CodecWorker:
    """A `python -m bench.codec` child that runs one timed trial per request; close() ends it."""

    def __init__(self, model: ModelArtifact, sizes: Sequence[int]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.codec", *map(str, sizes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        self._send(json.dumps(model.to_document()))

    def trial(self, kind: str, rows: int) -> float:
        """Rows per second of one trial of back-to-back round trips."""
        self._send(f"{kind} {rows}")
        assert self._process.stdout is not None
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError(f"bench.codec exited with {self._process.wait()}")
        return float(answer)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)

    def _send(self, line: str) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(line.encode() + b"\n")
        stdin.flush()


class FixedModel:
    """A ModelSource that always has the same model: no registry, no storage."""

    def __init__(self, model: ModelArtifact) -> None:
        self._model = model

    def get(
        self,
        model: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        split_key: str | None = None,
    ) -> ModelArtifact:
        return self._model


def round_trip(model: FixedModel, config: Settings, body: bytes, content_type: str) -> bytes:
    """What predict_batch does to a body, less the server: the core's path, then the bytes."""
    decode = Body(body, len(body), content_type).decode
    return to_json(predict(PredictionRequest("codec", "http", decode), config, model).body())


def main() -> None:
    model = from_json(sys.stdin.readline())
    payloads = {int(rows): payload(int(rows), model.features) for rows in sys.argv[1:]}
    source, config = FixedModel(model), Settings.from_env()
    gc.collect()
    gc.freeze()  # what was imported and built so far stays; requests' objects are collected
    for line in sys.stdin:
        kind, rows = line.split()
        body = getattr(payloads[int(rows)], kind)
        content_type = CONTENT_TYPES[kind]

        def call(body: bytes = body, content_type: str = content_type) -> bytes:
            return round_trip(source, config, body, content_type)

        call()  # warm-up
        print(throughput(call, int(rows), 1, TRIAL_SECONDS)[0], flush=True)


if __name__ == "__main__":
    main()
