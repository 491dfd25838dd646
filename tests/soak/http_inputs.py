"""Hypothesis strategies for HTTP requests schemathesis would not make: raw bodies, paths,
content types, encodings and methods around the documented ones (docs/http.md).

Each strategy draws `Raw` requests of one kind; `KINDS` names them all. Sizes stay small
except where size is the point (`oversized`, built once, not drawn).
"""

from __future__ import annotations

import gzip
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

from hypothesis import strategies as st

from functions.platform.config import Settings
from infra import names
from model.dataset import DEFAULT_FEATURES

JSON = "application/json"
CSV = "text/csv"
FEATURE = DEFAULT_FEATURES[
    0
]  # the served model's one feature: the first model's (infra/local/first_model.py)
CSV_BODY = f"{FEATURE}\n0.1\n".encode()  # a good CSV body
# The soak sets no limits in the functions' environment: theirs are the defaults.
LIMIT = Settings().max_body_bytes
MAX_INSTANCES = Settings().max_instances


@dataclass(frozen=True)
class Raw:
    """One request as sent: path percent-encoded, with its query."""

    kind: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterator[bytes] | None = None  # an iterator: chunked, no Content-Length


def _post(kind: str, body: bytes, content_type: str | None = JSON, **headers: str) -> Raw:
    if content_type is not None:
        headers["Content-Type"] = content_type
    return Raw(kind, "POST", "/predict", headers, body)


MAX_PATH = 60 * 1024


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="[],.-+:")


_good_instance = st.floats(-0.2, 0.2, allow_nan=False).map(lambda value: round(value, 4))
_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


def _dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN and Infinity as Python spells them


@st.composite
def wrong_shapes(draw: st.DrawFn) -> Raw:
    """JSON that parses but is not a batch of this model's instances."""
    value = draw(
        st.one_of(
            _json_values,
            st.fixed_dictionaries({"instances": _json_values}),
            st.fixed_dictionaries({"instances": st.lists(_json_values, max_size=4)}),
            st.dictionaries(st.text(min_size=1, max_size=6), _json_values, min_size=1).map(
                lambda extra: {"instances": [[0.1]], **extra, "instances ": 1}
            ),
            st.lists(st.lists(_good_instance, min_size=2, max_size=5), min_size=1, max_size=3),
            st.lists(
                st.dictionaries(
                    st.sampled_from(["BMI", "age", "", FEATURE + " "]), _good_instance, min_size=1
                ),
                min_size=1,
                max_size=3,
            ),
            st.sampled_from([[], [[]], [{}], {"instances": []}, {"instances": [[]]}, {}]),
        )
    )
    return _post(
        "wrong_shape", _dumps(value), draw(st.sampled_from([JSON, JSON + "; charset=utf-8"]))
    )


_ODD_NUMBERS = ["1e308", "1.8e308", "-1.8e308", "1e-400", "5e-324", "2.2250738585072014e-308"]
_ODD_NUMBERS += ["-0", "-0.0", "0x10", "007", "+1", ".5", "5.", "1_000", "1e", "e5", "1.2.3"]
_ODD_NUMBERS += ["１", "٣"]  # digits of other scripts
_NUMBER_SPELLINGS = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.tuples(st.sampled_from(["", "-", "+"]), st.integers(0, 9), st.integers(-999, 999)).map(
        lambda parts: f"{parts[0]}{parts[1]}e{parts[2]}"
    ),
    st.sampled_from(_ODD_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
_NANS = ["NaN", "nan", "-NaN", "NAN", "Infinity", "-Infinity", "+Infinity", "inf", "-inf"]
_NANS += ["Inf", "infinity", "1e999", "-1e999", '"NaN"', '"Infinity"', "null", "1e400", "-1e400"]
_NAN_SPELLINGS = st.sampled_from(_NANS)


def _number_requests(kind: str, spelling: st.SearchStrategy[str]) -> st.SearchStrategy[Raw]:
    """A number spelled as text after some good ones, in a JSON body, a CSV body or a path."""

    def build(text: str, where: int, after: int) -> Raw:
        rows = ["0.1"] * after + [text]
        if where == 0:
            instances = ",".join(f"[{row}]" for row in rows)
            return _post(kind, f'{{"instances": [{instances}]}}'.encode())
        if where == 1:
            return _post(kind, "\n".join([FEATURE, *rows, ""]).encode(), CSV)
        if where == 2:
            return _post(kind, f"[{','.join(rows)}]".encode())
        if where == 3:
            return Raw(kind, "GET", "/stream/" + _quote(text))
        return Raw(kind, "GET", "/batch/" + _quote(f"[{','.join(rows)},[{text}]]"))

    return st.builds(build, spelling, st.integers(0, 4), st.integers(0, 50))


def numbers() -> st.SearchStrategy[Raw]:
    return _number_requests("huge_tiny_numbers", _NUMBER_SPELLINGS)


def nan_spellings() -> st.SearchStrategy[Raw]:
    return _number_requests("nan_spellings", _NAN_SPELLINGS)


@st.composite
def deep_nesting(draw: st.DrawFn) -> Raw:
    """Arrays or objects nested up to 20,000 deep, in a body or a /batch/ path."""
    depth = draw(st.integers(2, 20_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"instances":', "}"), ('{"a":[', "]}")]))
    text = opener * depth + "0.1" + closer * depth
    path = "/batch/" + _quote(text)
    # The server refuses a request line over 64 KiB itself (docs/soak.md): such text goes
    # in a body. The client sends [ and ] percent-encoded, three bytes each.
    if draw(st.booleans()) or len(path) + 2 * text.count("[") + 2 * text.count("]") > MAX_PATH:
        return _post("deep_nesting", f'{{"instances": {text}}}'.encode())
    return Raw("deep_nesting", "GET", path)


_CHARSETS = ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "utf-8-sig", "shift_jis"]


@st.composite
def odd_encodings(draw: st.DrawFn) -> Raw:
    """A good body in another encoding, or with bytes that are no UTF-8, labelled or not."""
    text = f'{{"instances": [[{draw(_good_instance)}]], "note": "{draw(st.text(max_size=6))}"}}'
    if draw(st.booleans()):
        text = f"{FEATURE}\n{draw(_good_instance)}\n{draw(st.text(max_size=6))}\n"
    charset = draw(st.sampled_from(_CHARSETS))
    body = text.encode(charset, errors="replace")
    if draw(st.booleans()):
        position = draw(st.integers(0, len(body)))
        body = body[:position] + draw(st.binary(min_size=1, max_size=4)) + body[position:]
    media = CSV if text.startswith(FEATURE) else JSON
    label = draw(
        st.sampled_from(["", f"; charset={charset}", "; charset=utf-8", "; charset=bogus"])
    )
    return _post("odd_encodings", body, media + label)


_ODD_TYPES = [None, "", "text/plain", "application/xml", "multipart/form-data; boundary=x"]
_ODD_TYPES += ["application/x-www-form-urlencoded", "APPLICATION/JSON", "Text/CSV; header=present"]
_ODD_TYPES += ["application/json, text/csv", "application/json;;;", "application/jsonp", "json"]
_ODD_TYPES += ["application/*", "*/*", "application/octet-stream", "application/problem+json"]
_ODD_TYPES += ["text/csv; charset=" + "x" * 200]
_CONTENT_TYPES = st.one_of(
    st.sampled_from(_ODD_TYPES),
    # What requests sends as it is: no leading whitespace.
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.lstrip),
)


@st.composite
def content_types(draw: st.DrawFn) -> Raw:
    body = draw(st.sampled_from([b'{"instances": [[0.1]]}', CSV_BODY, b"", b"instances=0.1"]))
    return _post("content_types", body, draw(_CONTENT_TYPES))


_PATHS = ["/predict", "/", "/health", "/model", "/openapi.json", "/batch/[0.1]", "/stream/0.1"]
_PATHS += ["/batch/", "/nothing", "/predict/extra"]
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]
_METHODS += ["M-SEARCH"]  # the server's parser refuses a method it does not know (FOO: 400)


@st.composite
def methods(draw: st.DrawFn) -> Raw:
    """Every method on every route and a few other paths, with a body or without."""
    method = draw(st.sampled_from(_METHODS))
    body = draw(st.sampled_from([None, b'{"instances": [[0.1]]}', CSV_BODY]))
    headers = {"Content-Type": JSON if body and body.startswith(b"{") else CSV} if body else {}
    query = draw(st.sampled_from(["", "?version=1", f"?alias={names.SERVING_ALIAS}", "?version=x"]))
    return Raw("methods", method, draw(st.sampled_from(_PATHS)) + query, headers, body)


_QUERY_VALUES = st.one_of(
    st.text(max_size=10), st.sampled_from(["0", "-1", "1.0", "01", "99999999999999999999", "1"])
)


@st.composite
def paths_and_queries(draw: st.DrawFn) -> Raw:
    """Any text after a route's prefix, and any query, percent-encoded."""
    prefix = draw(
        st.sampled_from(["/batch/", "/stream/", "/", "/model", "/health", "//", "/%2e%2e/"])
    )
    path = prefix + _quote(draw(st.text(max_size=30)))
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(["version", "alias", "x", "", "version[]"]), _QUERY_VALUES),
            max_size=3,
        )
    )
    if pairs:
        path += "?" + urllib.parse.urlencode(pairs)
    return Raw("paths_queries", draw(st.sampled_from(["GET", "HEAD"])), path)


@st.composite
def csv_bodies(draw: st.DrawFn) -> Raw:
    rows = draw(
        st.lists(
            st.one_of(
                st.lists(st.one_of(_good_instance.map(str), st.text(max_size=5)), max_size=3).map(
                    ",".join
                ),
                st.sampled_from(
                    [FEATURE, f'"{FEATURE}"', f"{FEATURE},{FEATURE}", "", ";", '"', "\x00"]
                ),
            ),
            min_size=1,
            max_size=6,
        )
    )
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return _post("csv", newline.join(rows).encode(), CSV)


_GOOD = b'{"instances": [[0.1], [0.2]]}'


@st.composite
def gzip_bodies(draw: st.DrawFn) -> Raw:
    """Good and bad gzip: whole, truncated, corrupted, doubled, concatenated, mislabelled."""
    plain = draw(st.sampled_from([_GOOD, CSV_BODY, b"{not json", b""]))
    packed = gzip.compress(plain, mtime=0)
    how = draw(st.sampled_from(["whole", "truncated", "flipped", "double", "members", "random"]))
    if how == "truncated":
        packed = packed[: draw(st.integers(0, len(packed) - 1))]
    elif how == "flipped":
        at = draw(st.integers(0, len(packed) - 1))
        packed = packed[:at] + bytes([packed[at] ^ 0xFF]) + packed[at + 1 :]
    elif how == "double":
        packed = gzip.compress(packed, mtime=0)
    elif how == "members":
        packed = packed + gzip.compress(b"", mtime=0) + packed
    elif how == "random":
        packed = draw(st.binary(max_size=64))
    encoding = draw(
        st.sampled_from(["gzip", "GZIP", "gzip ", "gzip, gzip", "x-gzip", "deflate", "identity"])
    )
    media = CSV if plain == CSV_BODY else JSON
    return _post("gzip", packed, media, **{"Content-Encoding": encoding})


def oversized() -> list[Raw]:
    """Over the limits, once each: the body, the decompressed body, the instances; a body
    without a length (chunked); a compression bomb. (Too many instances in a /batch/ path
    would make a request line over 64 KiB, which the server refuses before the function.)"""
    body = b"[" + b"0.1," * (LIMIT // 4) + b"0.1]"
    too_many = b"[" + b"0.1," * MAX_INSTANCES + b"0.1]"
    bomb = gzip.compress(b"0" * (4 * LIMIT), compresslevel=9, mtime=0)
    prefixed = gzip.compress(b'{"instances": [' + b"0.1," * (LIMIT // 4) + b"0.1]}", mtime=0)
    chunk = b" " * 2**20
    return [
        _post("oversized", body),
        Raw("oversized", "POST", "/predict", {"Content-Type": JSON}, iter([chunk] * 17)),
        _post("oversized", b'{"instances": ' + too_many + b"}"),
        _post("oversized", f"{FEATURE}\n".encode() + b"0.1\n" * (MAX_INSTANCES + 1), CSV),
        _post("oversized", bomb, JSON, **{"Content-Encoding": "gzip"}),
        _post("oversized", prefixed, JSON, **{"Content-Encoding": "gzip"}),
        _post("oversized", gzip.compress(bomb, mtime=0), JSON, **{"Content-Encoding": "gzip"}),
    ]


# Each kind of raw request and its strategy (oversized is a fixed list, sent once).
KINDS: dict[str, st.SearchStrategy[Raw]] = {
    "wrong_shape": wrong_shapes(),
    "huge_tiny_numbers": numbers(),
    "nan_spellings": nan_spellings(),
    "deep_nesting": deep_nesting(),
    "odd_encodings": odd_encodings(),
    "content_types": content_types(),
    "methods": methods(),
    "paths_queries": paths_and_queries(),
    "csv": csv_bodies(),
    "gzip": gzip_bodies(),
}
