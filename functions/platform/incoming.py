"""What the ASGI functions read of a request: its headers once, its body within a limit."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.types import Scope


def headers_of(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name, read once: every later lookup is a dict's.
    ASGI servers give names in lower case; a repeated header keeps its last value."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def body_within(request: Request, limit: int) -> bytes:
    """The body, but never more than one byte past limit: the rest is not read at all, so
    a longer body is known to be too long without being held."""
    chunks, size, more = [], 0, True
    while more and size <= limit:
        message = await request.receive()
        if message["type"] != "http.request":
            break  # the client has gone
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
