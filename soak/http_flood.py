"""Generated requests against predict_batch, and a tally of their answers.

Two sources: schemathesis, from the function's own `GET /openapi.json` (positive and
negative cases of every operation), and the raw strategies of `soak.http_inputs`. Requests
go out on keep-alive connections from a few threads while the main thread draws the next;
every answer is checked against the document (`soak.answers`), schemathesis' cases by its
own checks too.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from soak import http_inputs, loopback
from soak.answers import Documented
from soak.drawing import for_each

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SENDERS = 4  # threads, each with its own keep-alive connection
TIMEOUT = 30.0  # seconds for one answer; a 16 MiB body on a busy machine included
EXAMPLES_OF_SAMPLES = 10  # undocumented answers kept verbatim for the figures


@dataclass
class Tally:
    """What came back, by status and by kind of input."""

    sent: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_kind: dict[str, Counter[int]] = field(default_factory=dict)
    server_errors: int = 0
    undocumented: int = 0
    unanswered: int = 0  # no HTTP answer at all: the connection broke or timed out
    samples: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, status: int, problem: str | None) -> None:
        with self._lock:
            self.sent += 1
            self.by_status[status] += 1
            self.by_kind.setdefault(kind, Counter())[status] += 1
            self.server_errors += status >= 500
            if problem is not None:
                self.undocumented += 1
                self._sample(f"{kind}: {problem}")

    def lost(self, kind: str, error: Exception) -> None:
        with self._lock:
            self.sent += 1
            self.unanswered += 1
            self.by_kind.setdefault(kind, Counter())[0] += 1
            self._sample(f"{kind}: no answer: {type(error).__name__}: {str(error)[:120]}")

    def _sample(self, text: str) -> None:
        if len(self.samples) < EXAMPLES_OF_SAMPLES:
            self.samples.append(text)

    def figures(self) -> dict[str, Any]:
        return {
            "requests": self.sent,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_kind": {
                kind: {
                    "requests": sum(counts.values()),
                    **{str(k): v for k, v in sorted(counts.items())},
                }
                for kind, counts in sorted(self.by_kind.items())
            },
            "responses_5xx": self.server_errors,
            "undocumented": self.undocumented,
            "unanswered": self.unanswered,
            "samples": self.samples,
        }


class Flood:
    """Sends requests from SENDERS threads and tallies the answers."""

    def __init__(self, base_url: str, documented: Documented) -> None:
        self.base_url = base_url
        self.documented = documented
        self.tally = Tally()
        self._pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="flood")
        self._local = threading.local()
        self._sessions: list[requests.Session] = []  # one per sender thread, closed on exit
        self._sessions_lock = threading.Lock()
        self._pending: list[Future[None]] = []

    def __enter__(self) -> Flood:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for session in self._sessions:
            session.close()

    def raw(self, request: http_inputs.Raw) -> None:
        self._submit(request.kind, functools.partial(self._send_raw, request), case=None)

    def case(self, kind: str, case: schemathesis.Case[Any]) -> None:
        kwargs = case.as_transport_kwargs(base_url=self.base_url)
        self._submit(kind, functools.partial(self._send, kwargs), case=case)

    def wait(self) -> None:
        """Until every request submitted has its answer counted."""
        for future in self._pending:
            future.result()
        self._pending.clear()

    def _submit(
        self,
        kind: str,
        send: Callable[[], requests.Response],
        case: schemathesis.Case[Any] | None,
    ) -> None:
        self._pending.append(self._pool.submit(self._guarded, kind, send, case))

    def _guarded(
        self,
        kind: str,
        send: Callable[[], requests.Response],
        case: schemathesis.Case[Any] | None,
    ) -> None:
        """Send, then tally the answer; case, when the request is one, runs its checks too."""
        try:
            response = send()
        except requests.RequestException as error:
            self.tally.lost(kind, error)
            return
        problem = self.documented.http_problem(
            response.request.method or "",
            response.request.path_url,
            response.status_code,
            response.headers,
            response.content,
        )
        if case is not None and problem is None:
            problem = _failed_checks(case, response)
        self.tally.count(kind, response.status_code, problem)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = loopback.session()
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _send_raw(self, request: http_inputs.Raw) -> requests.Response:
        return self._session().request(
            request.method,
            self.base_url + request.path,
            headers=request.headers,
            data=request.body,
            timeout=TIMEOUT,
        )

    def _send(self, kwargs: dict[str, Any]) -> requests.Response:
        return self._session().request(**{**kwargs, "timeout": TIMEOUT})


def _failed_checks(case: schemathesis.Case[Any], response: requests.Response) -> str | None:
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as failures:
        return "; ".join(failure.title for failure in failures.exceptions)
    return None


def served_document(base_url: str) -> dict[str, Any]:
    """The OpenAPI document the function serves at GET /openapi.json."""
    with loopback.session() as session:
        answer = session.get(base_url + "/openapi.json", timeout=TIMEOUT)
        answer.raise_for_status()
        document: dict[str, Any] = answer.json()
        return document


def flood(
    base_url: str, document: dict[str, Any], schema_examples: int, raw_examples: int
) -> dict[str, Any]:
    """Draw and send every request; the tally's figures, with the time taken."""
    began = time.monotonic()
    documented = Documented(document)
    schema = schemathesis.openapi.from_dict(document)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document the function serves must load
        operations.append(result.ok())
    with Flood(base_url, documented) as sender:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            kind = f"schemathesis_{mode.value}"
            for operation in operations:
                cases = operation.as_strategy(generation_mode=mode)
                for_each(cases, schema_examples, functools.partial(sender.case, kind))
        for raw in http_inputs.KINDS.values():
            for_each(raw, raw_examples, sender.raw)
        for request in http_inputs.oversized():
            sender.raw(request)
        sender.wait()
    return {**sender.tally.figures(), "seconds": round(time.monotonic() - began, 1)}
