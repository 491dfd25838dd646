"""Cloud Functions entry points; their logic lives in `functions/`."""

from __future__ import annotations

import flask
import functions_framework

from functions import http_batch


@functions_framework.http  # type: ignore[untyped-decorator]
def predict_batch(request: flask.Request) -> flask.Response:
    """HTTP batch predictions (CONTRACT section 5)."""
    return http_batch.handle(request)
