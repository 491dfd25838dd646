"""Generated requests against predict_batch, and a tally of their answers.

Two sources: schemathesis, from the function's own `GET /openapi.json` (positive and
negative cases of every operation), and the raw strategies of `http_inputs`, each drawn
derandomized (the same inputs every run). Requests go out on keep-alive connections from a
few threads while the main thread draws the next; every answer is checked against the
served document (`Documented`), schemathesis' cases by its own checks too.
"""

from __future__ import annotations

import functools
import queue
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from openapi_schema_validator import OAS30Validator
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

from functions.platform.errors import ServingError
from functions.serving.routes import match
from tests.soak import http_inputs

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SENDERS = 4  # threads, each with its own keep-alive connection
TIMEOUT = 30.0  # seconds for one answer; a 16 MiB body on a busy machine included
SAMPLES = 10  # undocumented answers kept verbatim for the figures
JSON = "application/json"
# An error's status name for its code (docs/http.md, "Errors"); its base (500) left out.
ERROR_STATUSES = {error.code: error.status for error in ServingError.__subclasses__()}
_STATUS_HEADERS = {405: "Allow", 503: "Retry-After"}  # beyond X-Request-Id on every answer
_OWN_ERROR = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
T = TypeVar("T")


class Documented:
    """The answers the served OpenAPI document allows: a path it has answers with that
    operation's statuses, another method there with 405, any other path with 404."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._paths: Mapping[str, Mapping[str, Any]] = document["paths"]
        self._components = document["components"]

    def problem(
        self, method: str, path: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        """What about the answer the document does not allow; None when it allows it all."""
        template = self._template(urllib.parse.unquote(path.split("?")[0], errors="replace"))
        operation = self._paths[template].get(method.lower()) if template else None
        documented = {"404"} if template is None else {"405"} if operation is None else None
        if str(status) not in (documented or operation["responses"]):
            return f"status {status} is not documented for {method} {path[:80]}"
        wanted = _STATUS_HEADERS.get(status)
        for header in ("X-Request-Id", wanted):
            if header is not None and header not in headers:
                return f"status {status} without {header}"
        response = _OWN_ERROR  # an unknown path's 404
        if operation is not None:
            response = operation["responses"][str(status)]
        elif template is not None:  # a 405, in the shape of the path's protocol
            response = next(iter(self._paths[template].values()))["responses"]["405"]
        media_type = headers.get("Content-Type", "").split(";")[0]
        # A HEAD operation documents its statuses only: its headers are the GET's, JSON.
        if media_type not in response.get("content", {JSON: None}):
            return f"status {status} with Content-Type {headers.get('Content-Type')!r}"
        if method == "HEAD":
            return None if body == b"" else "HEAD with a body"
        if media_type != JSON:
            return None  # binary tensors after a JSON header (docs/open-inference.md)
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return f"status {status} with a body that is not JSON: {body[:80]!r}"
        problem = self._schema_problem(answer, response["content"][JSON])
        if problem is not None or not isinstance(answer.get("error"), dict):
            return problem  # a success, or the Open Inference Protocol's {"error": "..."}
        error = answer["error"]
        if error["code"] != status or ERROR_STATUSES.get(status) != error["status"]:
            return f"error {error['code']} {error['status']} in a {status} answer"
        return None

    def _template(self, path: str) -> str | None:
        """The document's path that path falls under, as the function routes it."""
        found = match(path)
        return found[0].path if found is not None and found[0].path in self._paths else None

    def _schema_problem(self, answer: Any, content: Mapping[str, Any]) -> str | None:
        validator = OAS30Validator({**content["schema"], "components": self._components})
        error = next(iter(validator.iter_errors(answer)), None)
        return None if error is None else f"body off its schema: {error.message[:120]}"


class Flood:
    """Sends requests from SENDERS threads, each on a keep-alive connection of its own, and
    tallies the answers by status and kind."""

    def __init__(self, base_url: str, documented: Documented) -> None:
        self.base_url = base_url
        self.documented = documented
        self.by_status: Counter[int] = Counter()
        self.by_kind: dict[str, Counter[int]] = {}
        self.undocumented = self.unanswered = 0
        self.samples: list[str] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, Any, dict[str, Any]] | None] = queue.Queue()
        self._senders = [threading.Thread(target=self._sender, daemon=True) for _ in range(SENDERS)]
        for sender in self._senders:
            sender.start()

    def raw(self, request: http_inputs.Raw) -> None:
        url = self.base_url + request.path
        sent = {"method": request.method, "url": url, "headers": request.headers}
        self._queue.put((request.kind, None, {**sent, "data": request.body}))

    def case(self, kind: str, case: schemathesis.Case[Any]) -> None:
        self._queue.put((kind, case, case.as_transport_kwargs(base_url=self.base_url)))

    def finish(self) -> dict[str, Any]:
        """Wait for every answer; the figures."""
        for _ in self._senders:
            self._queue.put(None)
        for sender in self._senders:
            sender.join()
        return {
            "requests": self.by_status.total(),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_kind": {
                kind: {"requests": counts.total(), **{str(k): v for k, v in sorted(counts.items())}}
                for kind, counts in sorted(self.by_kind.items())
            },
            "responses_5xx": sum(n for status, n in self.by_status.items() if status >= 500),
            "undocumented": self.undocumented,
            "unanswered": self.unanswered,
            "samples": self.samples,
        }

    def _sender(self) -> None:
        """Send, then tally each answer (0: none came); a case's own checks run too."""
        with requests.Session() as session:
            session.trust_env = False  # no proxy from the environment on loopback
            while (item := self._queue.get()) is not None:
                kind, case, sent = item
                try:
                    response = session.request(**sent, timeout=TIMEOUT)
                except requests.RequestException as error:
                    self._count(kind, 0, f"no answer: {type(error).__name__}: {error!s:.120}")
                    continue
                problem = self.documented.problem(
                    response.request.method or "",
                    response.request.path_url,
                    response.status_code,
                    response.headers,
                    response.content,
                )
                if case is not None and problem is None:
                    problem = _failed_checks(case, response)
                self._count(kind, response.status_code, problem)

    def _count(self, kind: str, status: int, problem: str | None) -> None:
        with self._lock:
            self.by_status[status] += 1
            self.by_kind.setdefault(kind, Counter())[status] += 1
            self.unanswered += status == 0
            self.undocumented += status != 0 and problem is not None
            if problem is not None and len(self.samples) < SAMPLES:
                self.samples.append(f"{kind}: {problem}")


def _failed_checks(case: schemathesis.Case[Any], response: requests.Response) -> str | None:
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as failures:
        return "; ".join(failure.title for failure in failures.exceptions)
    return None


def for_each(strategy: st.SearchStrategy[T], count: int, use: Callable[[T], None]) -> None:
    """Call use on up to count examples of strategy, drawn the same way every run (fewer if
    it has no more; none if it can make none, as a negative case of an operation without
    inputs). Generation only: nothing fails, so nothing shrinks."""

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(example=strategy)
    def draw(example: T) -> None:
        use(example)

    try:
        draw()
    except Unsatisfiable:
        return


def flood(base_url: str, schema_examples: int, raw_examples: int) -> dict[str, Any]:
    """Draw and send every request; the figures of their answers."""
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(base_url + "/openapi.json", timeout=TIMEOUT)
        answer.raise_for_status()
        document = answer.json()
    schema = schemathesis.openapi.from_dict(document)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document the function serves must load
        operations.append(result.ok())
    sender = Flood(base_url, Documented(document))
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            cases = operation.as_strategy(generation_mode=mode)
            for_each(
                cases, schema_examples, functools.partial(sender.case, f"schemathesis_{mode.value}")
            )
    for raw in http_inputs.KINDS.values():
        for_each(raw, raw_examples, sender.raw)
    for request in http_inputs.oversized():
        sender.raw(request)
    return sender.finish()
