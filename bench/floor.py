"""The framework floor: an HTTP function that does nothing but answer a constant JSON.

Served by functions-framework with the same settings as `predict_batch`, it measures what
the server and the framework cost per request, below which no function can go.
"""

from __future__ import annotations

import flask
import functions_framework

# The shape of a one-instance prediction answer, so both send the same bytes back.
_BODY = b'{"predictions":[206.1],"model":{"name":"diabetes-bmi","version":1}}'


@functions_framework.http  # type: ignore[untyped-decorator]
def floor(request: flask.Request) -> flask.Response:
    """Answer at once, without reading the body."""
    return flask.Response(_BODY, status=200, mimetype="application/json")
