"""What the functions need of functions-framework's ASGI server beyond its defaults
(docs/http.md, "The server"), applied once when main.py is imported, before the framework
builds its app from main.py's functions:

- every request reaches the function: the framework's catch-all route would not match a
  path with a line break (%0A) nor take a method outside its list (TRACE, PROPFIND, ...),
  and it answers /robots.txt and /favicon.ico itself, all with a plain-text 404 or 405
  instead of the function's JSON answer;
- a clean end: uvicorn drains the requests in flight on SIGTERM, then ends the worker by
  raising SIGTERM again, which skips `atexit`. The app's lifespan shutdown, run after the
  drain, publishes the prediction log's queued records and writes the last log lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import functions_framework.aio
from starlette.applications import Starlette
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from functions.platform import logs, runtime


class _AnyPath(PathConvertor):
    regex = "(?s:.*)"  # a line break too


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    runtime.shutdown()
    logs.flush()


def adapt(not_found: Callable[[Request], Awaitable[Response]]) -> None:
    """Route every path to the functions (`not_found` answers the framework's own two) and
    end each worker cleanly."""
    register_url_convertor("path", _AnyPath())
    framework: Any = functions_framework.aio  # its private hooks: pinned version, tested
    framework._handle_not_found = not_found
    build = framework._create_asgi_app_with_function

    def adapted(*arguments: Any) -> Starlette:
        app: Starlette = build(*arguments)
        for route in app.routes:
            if isinstance(route, Route):
                route.methods = None  # any method: the function says which it allows
        app.router.lifespan_context = _lifespan
        return app

    framework._create_asgi_app_with_function = adapted
