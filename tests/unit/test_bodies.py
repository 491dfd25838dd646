"""Request bodies: limits, media types, encodings, gzip and its bombs, without a server."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from functions.platform.config import Settings
from functions.platform.errors import InvalidArgument, PayloadTooLarge, UnsupportedMediaType
from functions.serving.bodies import Body, media_type_of

LIMIT = 1024 * 1024
SETTINGS = Settings(max_body_bytes=LIMIT, max_instances=1000)
BODY = b'{"instances": [[0.5], [0.25]]}'


def body(data: bytes, content_type="application/json", encoding=None, length=True) -> Body:
    return Body(data, len(data) if length else None, content_type, encoding)


def zero_bomb(size: int) -> bytes:
    """gzip of a JSON body followed by size zero bytes, compressed a piece at a time."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(b'{"instances": [[0.5]]}')]
    chunk = b"\0" * 2**20
    parts += [compressor.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join([*parts, compressor.flush()])


@pytest.mark.parametrize("encoding", [None, "identity", "gzip", "GZIP", " gzip "])
def test_plain_and_gzipped_bodies_decode_the_same(encoding):
    sent = gzip.compress(BODY) if encoding and "gzip" in encoding.lower() else BODY
    decoded = body(sent, encoding=encoding).decode(SETTINGS)
    assert decoded.matrix(("bmi",)).tolist() == [[0.5], [0.25]]


def test_concatenated_gzip_members_are_one_body():
    sent = gzip.compress(BODY[:10]) + gzip.compress(BODY[10:])
    assert len(body(sent, encoding="gzip").decode(SETTINGS)) == 2


@pytest.mark.parametrize("length", [True, False])
def test_a_compression_bomb_is_413_without_the_memory(length):
    bomb = zero_bomb(256 * 2**20)  # 256 MiB once decompressed, about 250 KiB as sent
    assert len(bomb) < LIMIT
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match=f"limit of {LIMIT} bytes"):
            body(bomb, encoding="gzip", length=length).decode(SETTINGS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * LIMIT  # the limit's worth and the compressed body, not 256 MiB


def test_the_decompressed_body_may_reach_the_limit_exactly():
    data = b'{"instances": [[0.5]]}'
    padded = data[:-1] + b" " * (LIMIT - len(data)) + b"}"
    assert len(padded) == LIMIT
    assert len(body(gzip.compress(padded), encoding="gzip").decode(SETTINGS)) == 1
    with pytest.raises(PayloadTooLarge):
        body(gzip.compress(padded + b" "), encoding="gzip").decode(SETTINGS)


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (b"\x1f\x8b\x08\x00garbage", "not valid gzip"),
        (gzip.compress(BODY, mtime=0)[:-12], "ends before its last block"),
        (gzip.compress(BODY, mtime=0) + b"trailing", "not valid gzip"),
        (BODY, "not valid gzip"),
    ],
)
def test_broken_gzip_is_400(sent, message):
    with pytest.raises(InvalidArgument, match=message):
        body(sent, encoding="gzip").decode(SETTINGS)


def test_an_empty_gzip_body_is_empty():
    with pytest.raises(InvalidArgument, match="the body is empty"):
        body(b"", encoding="gzip").decode(SETTINGS)


@pytest.mark.parametrize("length", [True, False])
def test_a_body_over_the_limit_is_413_whether_or_not_its_length_is_known(length):
    big = BODY + b" " * LIMIT
    with pytest.raises(PayloadTooLarge, match=f"the body is over the limit of {LIMIT} bytes"):
        body(big, length=length).decode(SETTINGS)


def test_the_limit_comes_before_the_media_type():
    with pytest.raises(PayloadTooLarge):
        body(b" " * (LIMIT + 1), content_type="application/xml").decode(SETTINGS)


@pytest.mark.parametrize("content_type", [None, "", "application/xml", "text/plain", "json"])
def test_other_media_types_are_415(content_type):
    with pytest.raises(UnsupportedMediaType, match="application/json or text/csv"):
        body(BODY, content_type=content_type).decode(SETTINGS)


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, gzip", "compress"])
def test_other_encodings_are_415(encoding):
    with pytest.raises(UnsupportedMediaType, match=f"content encoding {encoding} is not"):
        body(BODY, encoding=encoding).decode(SETTINGS)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", "application/json"),
        ("Application/JSON; charset=utf-8", "application/json"),
        (" text/csv ;header=present", "text/csv"),
        (None, ""),
    ],
)
def test_media_type_of(content_type, expected):
    assert media_type_of(content_type) == expected


def test_csv_bodies_decode():
    decoded = body(b"bmi\n0.5\n", content_type="text/csv").decode(SETTINGS)
    assert decoded.matrix(("bmi",)).tolist() == [[0.5]]
