"""Hypothesis strategies for stream requests (docs/stream.md): messages to publish on
prediction-requests, and raw pushes whose data is not base64 (only a push can carry that:
Pub/Sub itself always base64-encodes).

The bodies are HTTP's raw POST bodies (`soak.http_inputs`), their headers turned into the
attributes that stand for them; bad attributes, empty data and good requests come on top.
"""

from __future__ import annotations

import base64
import binascii
import gzip
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from infra import names
from soak import http_inputs

GOOD_BODY = b'{"instances": [[0.1], [-0.05]]}'
# Pub/Sub's own limits on attributes: what no producer can publish is no input here.
_KEY_BYTES = 256
_VALUE_BYTES = 1024


@dataclass(frozen=True)
class Message:
    kind: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)  # request_id comes on top
    good: bool = False  # must get an ok result


def _from_raw(raw: http_inputs.Raw) -> Message:
    attributes = {}
    if "Content-Type" in raw.headers:
        attributes["content_type"] = raw.headers["Content-Type"]
    if "Content-Encoding" in raw.headers:
        attributes["content_encoding"] = raw.headers["Content-Encoding"]
    assert isinstance(raw.body, bytes)
    return Message(raw.kind, raw.body, attributes)


def _bodies(kind: str) -> st.SearchStrategy[Message]:
    """The POST bodies of one raw HTTP kind, as messages."""
    raw = http_inputs.KINDS[kind].filter(
        lambda request: request.method == "POST" and isinstance(request.body, bytes)
    )
    return raw.map(_from_raw)


_good = st.one_of(
    st.lists(st.floats(-0.2, 0.2), min_size=1, max_size=5).map(
        lambda values: Message(
            "good", f'{{"instances": {[[v] for v in values]}}}'.encode(), good=True
        )
    ),
    st.floats(-0.2, 0.2).map(
        lambda value: Message(
            "good",
            f"{http_inputs.FEATURE}\n{value}\n".encode(),
            {"content_type": http_inputs.CSV},
            True,
        )
    ),
    st.just(Message("good", gzip.compress(GOOD_BODY, mtime=0), {"content_encoding": "gzip"}, True)),
    st.just(Message("good", GOOD_BODY, {"version": "1"}, True)),
    st.just(Message("good", GOOD_BODY, {"alias": names.SERVING_ALIAS}, True)),
)

_attribute_text = st.text(st.characters(codec="utf-8"), max_size=40)
_ATTRIBUTE_VALUES = {
    "content_type": st.one_of(
        _attribute_text, st.sampled_from(["text/plain", "", "APPLICATION/JSON"])
    ),
    "content_encoding": st.one_of(_attribute_text, st.sampled_from(["br", "gzip", "", "deflate"])),
    "version": st.one_of(_attribute_text, st.integers(-5, 10**30).map(str), st.just("1.0")),
    "alias": st.one_of(_attribute_text, st.sampled_from(["staging", "prod uction", "a" * 64, ""])),
}


@st.composite
def bad_attributes(draw: st.DrawFn) -> Message:
    """A good body whose attributes are wrong: values, both version and alias, strangers."""
    names = draw(st.sets(st.sampled_from(sorted(_ATTRIBUTE_VALUES)), min_size=1))
    attributes = {name: draw(_ATTRIBUTE_VALUES[name]) for name in sorted(names)}
    strangers = draw(
        st.dictionaries(
            st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(
                lambda key: (
                    not key.startswith("goog")
                    and key not in _ATTRIBUTE_VALUES
                    and key != "request_id"
                )
            ),
            _attribute_text,
            max_size=2,
        )
    )
    attributes = _within_limits({**strangers, **attributes})
    return Message(
        "bad_attributes", draw(st.sampled_from([GOOD_BODY, http_inputs.CSV_BODY])), attributes
    )


def _within_limits(attributes: dict[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in attributes.items()
        if len(key.encode()) <= _KEY_BYTES and len(value.encode()) <= _VALUE_BYTES
    }


_bad_json = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"{",
            b"[[0.1]",
            b'{"instances": [[0.1]]',
            b"[[0.1]]]",
            b"[0.1,]",
            b"{'instances': [[0.1]]}",
            b'{"instances": [[0.1]]} trailing',
            b"\x00",
            b"null",
            b"true",
            b'"[[0.1]]"',
        ]
    ),
).map(lambda data: Message("bad_json", data))

_empty = st.fixed_dictionaries(
    {},
    optional={
        "content_type": st.sampled_from(["text/csv", "application/json", "", "x/y"]),
        "content_encoding": st.sampled_from(["gzip", "identity", "", "br"]),
        "version": st.sampled_from(["1", "99", "x", ""]),
        "alias": st.sampled_from([names.SERVING_ALIAS, "nope", "bad alias", ""]),
    },
).map(lambda attributes: Message("empty_data", b"", attributes))

# Each kind of published message and its strategy, with how many a run draws of it.
KINDS: dict[str, tuple[st.SearchStrategy[Message], int]] = {
    "good": (_good, 250),
    "bad_json": (_bad_json, 250),
    "bad_attributes": (bad_attributes(), 350),
    "empty_data": (_empty, 50),
    "wrong_shape": (_bodies("wrong_shape"), 200),
    "huge_tiny_numbers": (_bodies("huge_tiny_numbers"), 150),
    "nan_spellings": (_bodies("nan_spellings"), 150),
    "deep_nesting": (_bodies("deep_nesting"), 100),
    "odd_encodings": (_bodies("odd_encodings"), 150),
    "content_types": (_bodies("content_types"), 150),
    "csv": (_bodies("csv"), 150),
    "gzip": (_bodies("gzip"), 150),
}


def oversized() -> list[Message]:
    """Over the limits, within what Pub/Sub carries (10 MB): a compression bomb and too
    many instances."""
    bomb = gzip.compress(b"0" * (4 * http_inputs.LIMIT), compresslevel=9, mtime=0)
    too_many = b'{"instances": [' + b"0.1," * http_inputs.MAX_INSTANCES + b"0.1]}"
    return [
        Message("oversized", bomb, {"content_encoding": "gzip"}),
        Message("oversized", too_many),
        Message("oversized", gzip.compress(too_many, mtime=0), {"content_encoding": "gzip"}),
    ]


def _not_base64(value: Any) -> bool:
    if not isinstance(value, str) or value == "":
        return True
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return True
    return False


_JSON_INTEGERS = st.integers(-(2**63), 2**63 - 1)
# The `data` of a raw push: text that is no base64, or JSON that is no text at all.
PUSH_DATA = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["not base64!", "====", "YQ", "YWJj\n", "YW Jj", "Y", "-_-_", "😀"]),
    _JSON_INTEGERS,
    st.lists(_JSON_INTEGERS, max_size=2),
    st.dictionaries(st.text(max_size=3), _JSON_INTEGERS, max_size=2),
    st.booleans(),
).filter(_not_base64)
PUSHES = 150  # raw pushes a run sends
