"""What each stage of a one-instance request costs, in microseconds, timed in one process.

    .venv/bin/python -m bench.stages --out FILE     # make bench runs it against its cloud

Three things are timed in turn, with the same request each time (a fresh one per call,
built outside the timing):

- the whole function, `predict_batch` called through its ASGI app as uvicorn calls it;
- the framework alone: the empty function of `bench/floor.py` through the same entry;
- the stages of the function's own handler (`functions.serving.http.handle`, which runs
  the core `functions.serving.core.predict`), called directly with a stopwatch that reads
  the clock as each stage ends. Timed in sequence, not each in a loop of its own: a step
  repeated alone runs from warm caches and looks several times cheaper than in a request.

The framework plus the steps should come to the whole function within the noise; the table
says how near. The stream's message is taken apart the same way against `stream_floor`
(its whole also holds the push's conversion into a CloudEvent and the hop to the worker
thread its handler runs on, which no stage of the handler covers); its result's publish
waits for the emulator's confirmation, so it is I/O, not CPU. Work of the functions'
background threads (log lines written, prediction records built and
published) lands in whichever step holds the clock when they take the interpreter, as it
would in a request; `prediction_log_build_us` is what building one record costs.

The process is a fresh interpreter that has imported `main`; its stdout (the log lines)
goes to /dev/null. Rounds alternate the three, and each figure is the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import functions_framework
import orjson

from bench.floor import FLOOR_SOURCE
from bench.timing import median

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 7
CALLS = 2000  # per measure per round
BODY = b'{"instances":[0.5]}'
HTTP_STAGES = (
    "request_id",
    "routing",
    "decode",
    "model_lookup",
    "validate",
    "predict",
    "encode",
    "prediction_log_handoff",
    "request_log_line",
)
STREAM_STAGES = (
    "message_read",
    "decode",
    "model_lookup",
    "validate",
    "predict",
    "result_publish_confirmed",
    "request_log_line",
    "prediction_log_handoff",
)


def run(env: Mapping[str, str], out: Path) -> dict[str, Any]:
    """Measure in a fresh interpreter with env (the cloud's, the functions' settings)."""
    command = [sys.executable, "-m", "bench.stages", "--out", str(out)]
    subprocess.run(command, env={**os.environ, **env}, cwd=ROOT, check=True, timeout=600)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("--out", required=True, help="where the JSON result goes")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--calls", type=int, default=CALLS)
    arguments = parser.parse_args()
    with _stdout_discarded():
        result = measure(arguments.rounds, arguments.calls)
    with open(arguments.out, "w") as out:
        json.dump(result, out, indent=2)


def measure(rounds: int, calls: int) -> dict[str, Any]:
    http, stream = HttpStages(), StreamStages()
    return {
        "http": _measure(http, HTTP_STAGES, rounds, calls),
        # Each stream call waits on the emulator: fewer of them.
        "stream": _measure(stream, STREAM_STAGES, rounds, max(calls // 5, 1)),
        "prediction_log_build_us": round(median([http.record_build_us() for _ in range(5)]), 2),
        "rounds": rounds,
        "calls_per_round": calls,
    }


class Stages(Protocol):
    """A function taken apart: its whole call, its floor's, and its steps replayed."""

    def whole(self) -> Callable[[], object]: ...
    def floor(self) -> Callable[[], object]: ...
    def replay(self, clock: Clock) -> object: ...


def _measure(stages: Stages, names: tuple[str, ...], rounds: int, calls: int) -> dict[str, Any]:
    for _ in range(50):  # first calls: the model loaded, the threads started
        stages.whole()()
        stages.replay(Clock())
    whole: list[float] = []
    floor: list[float] = []
    steps: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        whole.append(_timed(stages.whole, calls))
        floor.append(_timed(stages.floor, calls))
        clock = Clock()
        for _ in range(calls):
            stages.replay(clock)
        for name in names:
            steps[name].append(clock.spent[name] / calls * 1e6)
    stage_us = {"framework": round(median(floor), 2)}
    stage_us |= {name: round(median(values), 2) for name, values in steps.items()}
    total = sum(stage_us.values())
    end_to_end = median(whole)
    return {
        "stages_us": stage_us,
        "sum_of_stages_us": round(total, 2),
        "end_to_end_us": round(end_to_end, 2),
        "sum_over_end_to_end": round(total / end_to_end, 3),
        "handler_us": round(end_to_end - stage_us["framework"], 2),
    }


class Clock:
    """Adds the time since its last tick to the step named."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._last = time.perf_counter()

    def start(self) -> None:
        self._last = time.perf_counter()

    def tick(self, step: str) -> None:
        now = time.perf_counter()
        self.spent[step] = self.spent.get(step, 0.0) + now - self._last
        self._last = now


class AsgiPair:
    """A function and its floor, both ASGI apps called on one event loop with the same request."""

    def __init__(self, app: Any, floor_app: Any, scope: dict[str, Any], body: bytes) -> None:
        self.app = app
        self.floor_app = floor_app
        self.scope = scope
        self.body = body
        self.loop = asyncio.new_event_loop()

    def call(self, app: Any) -> bytes:
        """The answer's body: the app called as the server calls it."""
        return self.loop.run_until_complete(_call_asgi(app, self.scope, self.body))

    def whole(self) -> Callable[[], object]:
        return lambda: self.call(self.app)

    def floor(self) -> Callable[[], object]:
        return lambda: self.call(self.floor_app)


class HttpStages(AsgiPair):
    """`POST /predict` with one instance, as `functions.serving.http.handle` answers it."""

    def __init__(self) -> None:
        from functions.platform import runtime
        from functions.serving import http as http_function

        self.http_function = http_function
        self.runtime = runtime
        scope = _scope("/predict", BODY)
        super().__init__(
            functions_framework.create_app("predict_batch", "main.py"),
            functions_framework.create_app("floor", FLOOR_SOURCE),
            scope,
            BODY,
        )
        self.call(self.app)  # loads the model

    def request(self) -> Any:
        from starlette.requests import Request

        return Request(dict(self.scope), _receiver(self.body))

    def replay(self, clock: Clock) -> Any:
        """The function's own handler on a fresh request, its stopwatch a tick per stage."""
        request = self.request()

        async def timed() -> Any:
            clock.start()
            return await self.http_function.handle(request, clock.tick)

        return self.loop.run_until_complete(timed())

    def record_build_us(self, records: int = 2000) -> float:
        """Building one prediction record's message, as the log's thread does."""
        from functions.serving.bodies import Body
        from functions.serving.core import PredictionRequest, predict
        from functions.serving.prediction_log import Entry, message

        runtime = self.runtime
        body = Body(BODY, len(BODY), "application/json")
        request = PredictionRequest("id", "http", body.decode)
        prediction = predict(request, runtime.settings(), runtime.models)
        entries = [
            Entry(
                "http",
                "id",
                prediction.model,
                prediction.instances,
                prediction.predictions,
                1,
                0.1,
                time.time(),
            )
            for _ in range(records)
        ]
        began = time.perf_counter()
        for entry in entries:
            message(entry)
        return (time.perf_counter() - began) / records * 1e6


class StreamStages(AsgiPair):
    """A one-instance message pushed by Pub/Sub, as `functions.serving.stream.handle` answers it."""

    def __init__(self) -> None:
        from functions.platform import runtime

        self.runtime = runtime
        project = runtime.settings().project_id
        message = {
            "data": base64.b64encode(BODY).decode(),
            "attributes": {"request_id": "bench-stages"},
            "messageId": "1",
            "publishTime": "2026-01-01T00:00:00Z",
        }
        push = {"message": message, "subscription": "projects/p/s/bench"}
        body = orjson.dumps(push)
        super().__init__(
            functions_framework.create_app("predict_stream", "main.py"),
            functions_framework.create_app("stream_floor", FLOOR_SOURCE),
            _scope(f"/projects/{project}/topics/prediction-requests", body),
            body,
        )
        self.event = _cloud_event(push)

    def replay(self, clock: Clock) -> None:
        """The function's own handler on the message, its stopwatch a tick per stage."""
        from functions.serving import stream

        clock.start()
        stream.handle(self.event, clock.tick)


def _scope(path: str, body: bytes) -> dict[str, Any]:
    """An HTTP/1.1 POST of a JSON body, as uvicorn hands it to the app."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


def _cloud_event(push: dict[str, Any]) -> Any:
    from cloudevents.http import CloudEvent

    attributes = {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//bench"}
    return CloudEvent(attributes, push)


def _timed(prepare: Callable[[], Callable[[], object]], calls: int) -> float:
    """Microseconds per call: each call's inputs are built first, outside its timing."""
    clock = time.perf_counter
    total = 0.0
    for _ in range(calls):
        call = prepare()
        began = clock()
        call()
        total += clock() - began
    return total / calls * 1e6


async def _call_asgi(app: Any, scope: dict[str, Any], body: bytes) -> bytes:
    answer: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            answer.append(message.get("body", b""))

    await app(dict(scope), _receiver(body), send)
    return b"".join(answer)


def _receiver(body: bytes) -> Callable[[], Any]:
    """An ASGI receive that hands over the body in one message."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


@contextmanager
def _stdout_discarded() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


if __name__ == "__main__":
    main()
    os._exit(0)  # the clients' gRPC threads must not hold the exit
