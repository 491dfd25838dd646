"""`monitor_drift`: the HTTP function that runs one drift window per `POST /`, and the live
quality job per `POST /performance`.

Cloud Scheduler calls both in the cloud, `make run` every DRIFT_INTERVAL_SECONDS and
QUALITY_INTERVAL_SECONDS, and `python -m mlctl drift` on demand; the answer is the report
(docs/monitoring.md). `POST /retrain` is the retraining schedule's tick (docs/training.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from functions.monitoring import retraining
from functions.monitoring.drift_job import COMPONENT, DriftJob
from functions.monitoring.quality_job import QualityJob
from functions.platform import logs, runtime, trace
from functions.platform.errors import (
    BackendUnavailable,
    MethodNotAllowed,
    NotFound,
    ServingError,
    is_backend_failure,
)
from functions.platform.responses import error_response, json_response


def handle(request: Request) -> Response:
    started = time.perf_counter()
    request_id = trace.request_id(request.headers)
    tracing = trace.fields(request.headers, runtime.settings().project_id)
    fields: dict[str, Any] = {}
    try:
        body = _route(request)
        if "records" in body.get("window", {}):
            fields = {"records": body["window"]["records"], "report": body.get("report")}
        response = json_response(200, body)
    except ServingError as error:
        response = error_response(error)
    except Exception as error:
        if is_backend_failure(error):
            logs.error(f"window handed back: {error}", component=COMPONENT, **tracing)
            response = error_response(
                BackendUnavailable(f"storage or messaging unavailable: {error}")
            )
        else:  # a bug: its traceback in the log, no stack trace in the answer
            logs.exception(
                f"unhandled {type(error).__name__}: {error}",
                component=COMPONENT,
                request_id=request_id,
                **tracing,
            )
            response = error_response(ServingError("internal error"))
    response.headers["X-Request-Id"] = request_id
    logs.request(
        f"{request.method} {request.scope['path']} {response.status_code}",
        component=COMPONENT,
        request_id=request_id,
        model_version=None,  # a window covers every version served
        latency_ms=(time.perf_counter() - started) * 1000,
        severity="INFO" if response.status_code < 500 else "ERROR",
        status=response.status_code,
        **fields,
        **tracing,
    )
    return response


def _route(request: Request) -> dict[str, Any]:
    path = request.scope["path"].rstrip("/") or "/"
    if path == "/":
        _allow(request, "POST")
        return job().run()
    if path == "/performance":
        _allow(request, "POST")
        return quality_job().run()
    if path == "/health":
        _allow(request, "GET")
        return {"status": "ok"}
    if path == "/retrain":
        _allow(request, "POST")
        return retraining.scheduled(
            runtime.registry(), datetime.now(UTC), runtime.settings().serving_alias
        )
    raise NotFound(
        f"no route {request.scope['path']!r}: POST / runs a drift window, POST /performance "
        "the live quality job, POST /retrain the retraining schedule's tick"
    )


def job() -> DriftJob:
    return DriftJob(
        runtime.settings(), runtime.subscriber(), runtime.publisher(), runtime.storage()
    )


def quality_job() -> QualityJob:
    return QualityJob(runtime.settings(), runtime.publisher(), runtime.storage())


def _allow(request: Request, method: str) -> None:
    if request.method != method:
        raise MethodNotAllowed(
            f"{request.scope['path']} accepts {method} only, not {request.method}", (method,)
        )
