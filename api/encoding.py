"""Request bodies sent compressed: `Content-Encoding: gzip` is undone within the body limit, any
other content coding is refused."""

from __future__ import annotations

import zlib

from .problems import ApiProblem

# x-gzip is gzip's old name, which HTTP still accepts for it (RFC 9110, section 8.4.1.3).
_GZIP = ("gzip", "x-gzip")
_GZIP_WBITS = zlib.MAX_WBITS | 16


def decoded(body: bytes, content_encoding: str, *, max_body: int) -> bytes:
    """`body` as it was before the codings of its Content-Encoding header were applied."""
    codings = [coding.strip().lower() for coding in content_encoding.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return body
    if len(codings) == 1 and codings[0] in _GZIP:
        return _gunzip(body, max_body=max_body)
    raise ApiProblem(
        415,
        f"the body is encoded as {', '.join(codings)}, which this server does not read; send "
        "it compressed with gzip (Content-Encoding: gzip or x-gzip), or not compressed.",
        headers={"Accept-Encoding": "gzip"},
    )


def _gunzip(body: bytes, *, max_body: int) -> bytes:
    """The gzip members of `body`, decompressed a piece at a time: one decompressing past
    `max_body` bytes is refused before the rest of it is inflated."""
    parts: list[bytes] = []
    size = 0
    pending = body
    while pending:
        inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
        while not inflater.eof:
            try:
                part = inflater.decompress(pending, max_body - size + 1)
            except zlib.error as exc:
                raise _not_gzip(str(exc).rpartition(": ")[2]) from None
            pending = inflater.unconsumed_tail
            if not part and not pending and not inflater.eof:
                raise _not_gzip("it ends before its gzip stream does")
            size += len(part)
            if size > max_body:
                raise ApiProblem(
                    413,
                    f"the body decompresses to over {max_body:,} bytes, this server's limit, "
                    "which holds for a body once decompressed; send a smaller body, or fewer "
                    "records per request.",
                )
            parts.append(part)
        # Several gzip members one after another decompress as one body (RFC 1952).
        pending = inflater.unused_data
    return b"".join(parts)


def _not_gzip(reason: str) -> ApiProblem:
    return ApiProblem(
        400,
        f"the body is not valid gzip: {reason}; send it compressed with gzip, or not "
        "compressed and without Content-Encoding.",
    )
