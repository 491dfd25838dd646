"""Plain HTTP calls to the functions, for the tools (mlctl, the local system): never through
a proxy, since the URLs are the functions' own (loopback, or a deployment's)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 1.0) -> tuple[int, bytes] | None:
    """The status and body of GET url, or None when nothing answers."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, urllib.error.URLError):
        return None


def http_post_json(
    url: str, timeout: float, headers: Mapping[str, str] | None = None, body: object = None
) -> Any:
    """POST url with body as JSON (none: an empty body), never through a proxy; its JSON
    answer. An answer other than 2xx raises urllib.error.HTTPError."""
    data = b"" if body is None else json.dumps(body).encode()
    sent = {**({} if body is None else {"Content-Type": "application/json"}), **(headers or {})}
    # S310: url is a function's, from the launcher or mlctl --url, not from a request.
    request = urllib.request.Request(url, data=data, method="POST", headers=sent)  # noqa: S310
    with _DIRECT.open(request, timeout=timeout) as response:
        return json.loads(response.read())
