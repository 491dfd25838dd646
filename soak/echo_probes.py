"""Requests built to be echoed into response headers, sent byte for byte over a socket, and
the check of what came back (issue item 6: the HTTP function never echoes input into
headers; docs/http.md: only a valid X-Request-Id token is echoed, by design).

Every probe carries MARKER in the part under test (path, query, X-Request-Id, other
headers, method, body), spelled with CR/LF (raw and percent-encoded), NUL, unicode line
separators and overlong UTF-8. An answer echoes when a header name or value holds the
marker, or a header name is not one predict_batch ever sends (an injected header).
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import strategies as st

MARKER = "soakecho"
VALID_TOKEN = f"{MARKER}-valid.token:1"  # a plain token: echoed by design
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Every header predict_batch (functions-framework, gunicorn) answers with.
SENT_HEADERS = {
    "server",
    "date",
    "connection",
    "content-type",
    "content-length",
    "transfer-encoding",
    "x-request-id",
    "allow",
    "retry-after",
}
_TIMEOUT = 10.0

# The marker with what would split a header or a line, raw or as the path would decode it.
PAYLOADS = [
    MARKER,
    f"{MARKER}\r\nSet-Cookie: {MARKER}=1",
    f"{MARKER}\nX-{MARKER}: 1",
    f"{MARKER}\r\n\r\n<html>{MARKER}",
    f"{MARKER}\x00X-{MARKER}: 1",
    f"{MARKER}\u2028X-{MARKER}: 1",
    f"{MARKER}\u0130\u017f\u212a",
    f"{MARKER}\x85X-{MARKER}: 1",
]
_PERCENT = [
    f"{MARKER}%0D%0ASet-Cookie:%20{MARKER}=1",
    f"{MARKER}%0AX-{MARKER}:%201",
    f"{MARKER}%00",
    f"{MARKER}%E2%80%A8X-{MARKER}:1",
    f"{MARKER}%C0%8A",
    f"{MARKER}%ff%fe",
]


@dataclass(frozen=True)
class Probe:
    place: str
    request: bytes
    request_id: str | None  # the X-Request-Id as the server reads it, if any


def _as_read(value: str) -> str:
    """A header value as the server reads it: a raw CR or LF ends it (what follows is
    another header line, split by the client, not echoed by the server), and the spaces
    and tabs around it are not part of it (RFC 9110, 5.5)."""
    return re.split(r"[\r\n]", value, maxsplit=1)[0].strip(" \t")


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the server closed without answering
    headers: list[tuple[str, str]]


def _request(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    head = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    head += [name + b": " + value for name, value in headers]
    head += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def probes() -> Iterator[Probe]:
    """Each payload in each place, plus the valid token that must come back as it is."""
    json_type = (b"Content-Type", b"application/json")
    body = b'{"instances": [[0.1]]}'
    for text in PAYLOADS + _PERCENT:
        raw = _utf8(text)
        yield Probe("path", _request(b"GET", b"/stream/" + raw, []), None)
        yield Probe("path", _request(b"GET", b"/" + raw, []), None)
        yield Probe("query", _request(b"GET", b"/model?alias=" + raw, []), None)
        yield Probe("query", _request(b"GET", b"/batch/[0.1]?version=" + raw, []), None)
        yield Probe(
            "x_request_id",
            _request(b"GET", b"/health", [(b"X-Request-Id", raw)]),
            _as_read(text),
        )
        yield Probe(
            "content_type",
            _request(b"POST", b"/predict", [(b"Content-Type", b"application/" + raw)], body),
            None,
        )
        yield Probe(
            "content_encoding",
            _request(b"POST", b"/predict", [json_type, (b"Content-Encoding", raw)], body),
            None,
        )
        yield Probe(
            "body",
            _request(b"POST", b"/predict", [json_type], b'{"instances": [["' + raw + b'"]]}'),
            None,
        )
        yield Probe(
            "body",
            _request(b"POST", b"/predict", [(b"Content-Type", b"text/csv")], raw + b"\n0.1\n"),
            None,
        )
    yield Probe("method", _request(MARKER.upper().encode(), b"/predict", []), None)
    yield Probe(
        "x_request_id",
        _request(b"GET", b"/health", [(b"X-Request-Id", VALID_TOKEN.encode())]),
        VALID_TOKEN,
    )
    yield Probe(
        "x_request_id",
        _request(
            b"GET",
            b"/health",
            [(b"X-Request-Id", MARKER.encode()), (b"X-Request-Id", b"second")],
        ),
        MARKER,
    )
    yield Probe(
        "header_fold",  # an obsolete folded continuation line
        _request(b"GET", b"/health", [(b"X-Request-Id", b"a\r\n " + MARKER.encode())]),
        f"a {MARKER}",
    )


# Generated payloads on top of the fixed ones: the marker inside any text.
GENERATED = st.builds(
    lambda before, after, place: (place, f"{before}{MARKER}{after}"),
    st.text(max_size=8),
    st.text(max_size=8),
    st.sampled_from(["path", "query", "x_request_id", "body"]),
)


def generated_probe(drawn: tuple[str, str]) -> Probe:
    place, text = drawn
    raw = _utf8(text)
    if place == "path":
        return Probe(place, _request(b"GET", b"/batch/" + raw, []), None)
    if place == "query":
        return Probe(place, _request(b"GET", b"/model?version=" + raw, []), None)
    if place == "x_request_id":
        request = _request(b"GET", b"/health", [(b"X-Request-Id", raw)])
        return Probe(place, request, _as_read(text))
    body = b"bmi," + raw + b"\n0.1\n"
    return Probe(place, _request(b"POST", b"/", [(b"Content-Type", b"text/csv")], body), None)


def exchange(host: str, port: int, request: bytes) -> Answer:
    """Send request as it is; the status and headers of the answer, as sent."""
    with socket.create_connection((host, port), timeout=_TIMEOUT) as sock:
        # The server may answer (or close) before taking the whole request.
        with contextlib.suppress(OSError):
            sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            received += chunk
    head = received.partition(b"\r\n\r\n")[0].decode("latin-1")
    lines = head.split("\r\n")
    if not lines[0].startswith("HTTP/"):
        return Answer(None, [])
    headers = [
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:])
    ]
    return Answer(int(lines[0].split()[1]), headers)


def echoes(probe: Probe, answer: Answer) -> list[str]:
    """The headers of answer that carry probe's input, or should not be there at all."""
    found = []
    for name, value in answer.headers:
        if name.lower() not in SENT_HEADERS:
            found.append(f"{probe.place}: a header {name!r} predict_batch never sends")
            continue
        if MARKER not in (name + value).lower():
            continue
        if name.lower() == "x-request-id" and _valid_echo(probe, value):
            continue
        found.append(f"{probe.place}: {name}: {value[:80]!r}")
    return found


def _valid_echo(probe: Probe, value: str) -> bool:
    """The echo docs/http.md promises: the request's own X-Request-Id, a plain token."""
    return probe.request_id == value and _TOKEN.fullmatch(value) is not None
