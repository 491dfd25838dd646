"""Whether an answer is one the function documents: the OpenAPI document it serves for HTTP
(docs/http.md), and its result format for the stream (docs/stream.md).

The statuses and body schemas come from the served document itself, not from the code that
builds it: a path the document has answers with that operation's statuses, another method
there with 405, any other path with 404 (docs/http.md, "Errors"). Only the status name each
error code carries comes from the code (functions.errors): the document does not pair them.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import orjson
from openapi_schema_validator import OAS30Validator

from functions.errors import ServingError

JSON = "application/json"
# An error's status name for its code (docs/http.md, "Errors"), from the one error hierarchy;
# its base (500 INTERNAL) is left out: no answer may carry it.
ERROR_STATUSES = {error.code: error.status for error in ServingError.__subclasses__()}
# Headers the document names for a status, beyond X-Request-Id on every answer.
_STATUS_HEADERS = {405: "Allow", 503: "Retry-After"}


class Documented:
    """The answers the served OpenAPI document allows."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._paths: Mapping[str, Mapping[str, Any]] = document["paths"]
        self._components = document["components"]

    def statuses(self, method: str, path: str) -> set[int]:
        """The statuses documented for method on path (as sent, percent-encoded)."""
        template = self._template(urllib.parse.unquote(path.split("?")[0], errors="replace"))
        if template is None:
            return {404}
        operation = self._paths[template].get(method.lower())
        if operation is None:
            return {405}
        return {int(status) for status in operation["responses"]}

    def http_problem(
        self, method: str, path: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        """What about the answer the document does not allow; None when it allows it all."""
        if status not in self.statuses(method, path):
            return f"status {status} is not documented for {method} {path[:80]}"
        if "X-Request-Id" not in headers:
            return f"status {status} without X-Request-Id"
        wanted = _STATUS_HEADERS.get(status)
        if wanted is not None and wanted not in headers:
            return f"status {status} without {wanted}"
        if headers.get("Content-Type", "").split(";")[0] != JSON:
            return f"status {status} with Content-Type {headers.get('Content-Type')!r}"
        if method == "HEAD":
            return None if body == b"" else "HEAD with a body"
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return f"status {status} with a body that is not JSON: {body[:80]!r}"
        if status != 200:
            return self.error_problem(answer, status)
        return self._schema_problem(answer, self._ok_schema(method, path))

    def error_problem(self, answer: Any, code: int | None = None) -> str | None:
        """What is wrong with an error body {"error": {"code", "status", "message"}}."""
        problem = self._schema_problem(answer, {"$ref": "#/components/schemas/Error"})
        if problem is not None:
            return problem
        error = answer["error"]
        if code is not None and error["code"] != code:
            return f"error code {error['code']} in a {code} answer"
        if ERROR_STATUSES.get(error["code"]) != error["status"]:
            return f"error code {error['code']} with status {error['status']}"
        return None

    def prediction_problem(self, answer: Any) -> str | None:
        return self._schema_problem(answer, {"$ref": "#/components/schemas/Prediction"})

    def _template(self, path: str) -> str | None:
        """The document's path that path falls under: exact (a trailing / aside), or a
        template whose last segment is a parameter, which takes the rest of the path."""
        path = path.rstrip("/") or "/"
        if path in self._paths:
            return path
        for template in self._paths:
            prefix, brace, _ = template.partition("{")
            if brace and path.startswith(prefix) and len(path) > len(prefix):
                return template
        return None

    def _ok_schema(self, method: str, path: str) -> dict[str, Any]:
        template = self._template(urllib.parse.unquote(path.split("?")[0], errors="replace"))
        operation = self._paths[template or "/"][method.lower()]
        schema: dict[str, Any] = operation["responses"]["200"]["content"][JSON]["schema"]
        return schema

    def _schema_problem(self, answer: Any, schema: dict[str, Any]) -> str | None:
        validator = OAS30Validator({**schema, "components": self._components})
        error = next(iter(validator.iter_errors(answer)), None)
        if error is None:
            return None
        return f"body off its schema: {error.message[:120]}"


def stream_result_problem(
    documented: Documented, data: bytes, attributes: Mapping[str, str]
) -> str | None:
    """What is wrong with a result on prediction-results (docs/stream.md, "Results")."""
    try:
        result = orjson.loads(data)
    except orjson.JSONDecodeError:
        return f"a result that is not JSON: {data[:80]!r}"
    if not isinstance(result, dict):
        return "a result that is not an object"
    body = {key: value for key, value in result.items() if key not in ("request_id", "status")}
    if result.get("request_id") != attributes.get("request_id"):
        return "request_id differs between the result and its attributes"
    if result.get("status") != attributes.get("status"):
        return "status differs between the result and its attributes"
    if result.get("status") == "ok":
        version = str(body.get("model", {}).get("version", ""))
        if attributes.get("model_version") != version:
            return "model_version attribute is not the result's model version"
        return documented.prediction_problem(body)
    if result.get("status") == "error":
        if attributes.get("model_version") != "":
            return "an error result with a model_version attribute"
        problem = documented.error_problem(body)
        if problem is None and body["error"]["code"] >= 500:
            return f"an error result with code {body['error']['code']}: a transient failure"
        return problem
    return f"a result with status {result.get('status')!r}"
