"""Request bodies, whichever transport carried them: size limit, media type, encoding, syntax.

The HTTP function reads a body from the socket, the stream function from a Pub/Sub message;
both hand it here as a `Body`, so the same bytes meet the same checks in the same order and
fail with the same error (docs/http.md, docs/stream.md):

1. over `max_body_bytes` (when the length is known beforehand) → 413
2. a media type other than JSON or CSV → 415; an encoding other than gzip or identity → 415
3. more bytes than the limit, compressed or decompressed (a gzip body is decompressed
   only up to the limit) → 413
4. empty → 400; then the JSON or CSV itself (`functions.serving.parsing`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

from functions.platform.config import Settings
from functions.platform.errors import InvalidArgument, PayloadTooLarge, UnsupportedMediaType
from functions.serving.parsing import Instances, decode_csv, decode_json

JSON = "application/json"
CSV = "text/csv"
MEDIA_TYPES = (JSON, CSV)
GZIP = "gzip"
IDENTITY = "identity"
ENCODINGS = (IDENTITY, GZIP)
DECODERS: dict[str, Callable[[bytes, int], Instances]] = {JSON: decode_json, CSV: decode_csv}
_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # a gzip header and trailer, nothing else


@dataclass(slots=True)  # one per request: not frozen, whose __init__ costs 4x as much
class Body:
    """A request body as a transport received it, not checked yet."""

    data: bytes  # as received: an HTTP body is read up to one byte past the limit, no further
    length: int | None  # known beforehand (Content-Length, a message's data), else None
    content_type: str | None  # as sent: "application/json; charset=utf-8"
    content_encoding: str | None = None  # as sent: "gzip"

    def decode(self, config: Settings) -> Instances:
        """The instances in the body, or the ServingError that says what is wrong with it."""
        media_type, data = self.read_all(config)
        return DECODERS[media_type](data, config.max_instances)

    def read_all(self, config: Settings) -> tuple[str, bytes]:
        """The body's media type and its bytes (decompressed), within the limits: steps 1-4
        but the syntax."""
        limit = config.max_body_bytes
        if self.length is not None and self.length > limit:
            raise too_large(limit)
        media_type, gzipped = self._media_type()
        data = self.data
        if len(data) > limit:  # a body need not say its length beforehand
            raise too_large(limit)
        if gzipped:
            data = _gunzip(data, limit)
        if not data:
            raise InvalidArgument(f'the body is empty: send {{"instances": [...]}} as {JSON}')
        return media_type, data

    def _media_type(self) -> tuple[str, bool]:
        """The media type, and whether the body is gzipped; 415 for anything else."""
        media_type = media_type_of(self.content_type)
        if media_type not in MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"content type {self.content_type or 'none'} is not supported: send {JSON} or {CSV}"
            )
        encoding = (self.content_encoding or IDENTITY).strip().lower()
        if encoding not in ENCODINGS:
            raise UnsupportedMediaType(
                f"content encoding {self.content_encoding} is not supported: "
                f"send the body as it is or with {GZIP}"
            )
        return media_type, encoding == GZIP


def media_type_of(content_type: str | None) -> str:
    """The media type of a Content-Type: `Application/JSON; charset=utf-8` → `application/json`."""
    return (content_type or "").partition(";")[0].strip().lower()


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body is over the limit of {limit} bytes")


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress at most limit + 1 bytes, whatever the body would expand to: a compression
    bomb costs the limit in memory, not its full size. Concatenated members make one body."""
    out = bytearray()
    pending = data
    while pending:
        member = zlib.decompressobj(_GZIP_WINDOW)
        while pending and not member.eof:
            try:
                out += member.decompress(pending, limit + 1 - len(out))
            except zlib.error as error:
                raise InvalidArgument(f"the body is not valid gzip: {error}") from None
            if len(out) > limit:
                raise too_large(limit)
            pending = member.unconsumed_tail
        if not member.eof:
            raise InvalidArgument("the body is not valid gzip: it ends before its last block")
        pending = member.unused_data
    return bytes(out)
