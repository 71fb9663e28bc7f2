"""Reading a request body within the limits, gzip included, safe against decompression bombs."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Mapping


class BodyError(Exception):
    """The body cannot be taken; ``status`` and ``code`` say how to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _too_large(limit: int, what: str) -> BodyError:
    return BodyError(
        413,
        "request_too_large",
        f"{what} is larger than {limit} bytes, the most one request may carry; send fewer events per batch",
    )


async def read_body(headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The request body (``chunks`` as they arrive), decompressed if ``Content-Encoding: gzip``; at most
    ``limit`` bytes after that. ``headers`` has lower-case names."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise BodyError(
            415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip"
        )
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, "the request body")
    parts: list[bytes] = []
    received = size = 0
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise _too_large(limit, "the request body")
        if inflater is None:
            parts.append(chunk)
            continue
        data = chunk
        while data:
            if inflater.eof:
                raise BodyError(400, "invalid_gzip", "the body has data after the end of the gzip stream")
            try:
                out = inflater.decompress(data, limit + 1 - size)
            except zlib.error as exc:
                raise BodyError(400, "invalid_gzip", f"the body is not valid gzip: {exc}") from exc
            size += len(out)
            if size > limit:
                raise _too_large(limit, "the decompressed body")
            parts.append(out)
            data = inflater.unconsumed_tail or inflater.unused_data
    if inflater is not None and received and not inflater.eof:
        raise BodyError(400, "invalid_gzip", "the gzip body is truncated")
    return b"".join(parts)
