"""Reading an object: conditional headers and single/multi-range responses (`multipart/byteranges`)."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import AsyncIterator, Mapping

from stackbox.digits import decimal
from stackbox.http import Response, StreamingResponse
from stackbox.storage.contract import ObjectStore
from stackbox.storage.types import ObjectInfo
from stackbox.swift.errors import html_body
from stackbox.swift.headers import parse_http_date

Span = tuple[int, int]  # [start, end) in bytes


#: RFC 7233 section 6.1: many small, overlapping or unordered ranges cost the server far more than
#: the client. Swift (swob) calls a set "egregious" past these and refuses it like an unsatisfiable one.
MAX_RANGES = 50
MAX_RANGE_OVERLAPS = 2
MAX_NONASCENDING_RANGES = 8


def parse_range(value: str | None, size: int) -> list[Span] | None:
    """The satisfiable spans of a `Range` header; None when the header is absent or malformed (the
    whole object is then returned, as Swift does); [] when no span is satisfiable or the set is
    egregious (416, as Swift answers)."""
    if not value or not value.strip().lower().startswith("bytes="):
        return None
    spans: list[Span] = []
    for item in value.strip()[6:].split(","):
        parsed = _parse_spec(item.strip())
        if parsed is None:
            return None
        span = _clamp(parsed, size)
        if span is not None:
            spans.append(span)
    return [] if _egregious(spans) else spans


def _egregious(spans: list[Span]) -> bool:
    if len(spans) > MAX_RANGES:
        return True
    overlaps = sum(1 for first, second in itertools.combinations(spans, 2) if _overlap(first, second))
    if overlaps > MAX_RANGE_OVERLAPS:
        return True
    ascending = all(first <= second for first, second in itertools.pairwise(spans))
    return not ascending and len(spans) >= MAX_NONASCENDING_RANGES


def _overlap(first: Span, second: Span) -> bool:
    """Swift's test: one span's boundary falls strictly inside the other."""
    (start1, end1), (start2, end2) = first, second
    return (start1 < start2 < end1 or start1 < end2 < end1
            or start2 < start1 < end2 or start2 < end1 < end2)


def _parse_spec(spec: str) -> tuple[int | None, int | None] | None:
    first, dash, last = spec.partition("-")
    if not dash or (not first and not last):
        return None
    start = decimal(first) if first else None
    end = decimal(last) if last else None
    if (first and start is None) or (last and end is None):
        return None
    if start is not None and end is not None and end < start:
        return None
    return start, end


def _clamp(spec: tuple[int | None, int | None], size: int) -> Span | None:
    start, end = spec
    if start is None:  # suffix: the last `end` bytes
        assert end is not None
        return (max(size - end, 0), size) if end > 0 and size > 0 else None
    if start >= size:
        return None
    return start, size if end is None else min(end + 1, size)


def check_conditions(headers: Mapping[str, str], etag: str, last_modified: float, method: str) -> int | None:
    """304 or 412 when a conditional header says so, else None. `etag` is unquoted."""
    if_match = headers.get("if-match")
    if if_match is not None and not _etag_matches(if_match, etag):
        return 412
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, etag):
        return 304 if method in ("GET", "HEAD") else 412
    modified = math.ceil(last_modified)
    since = _header_time(headers, "if-unmodified-since")
    if since is not None and modified > since:
        return 412
    since = _header_time(headers, "if-modified-since")
    if if_none_match is None and since is not None and modified <= since:
        return 304
    return None


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {item.strip().strip('"') for item in header.split(",")}
    return "*" in candidates or etag in candidates


def _header_time(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    return None if value is None else parse_http_date(value)


def body_response(storage: ObjectStore, obj: ObjectInfo, headers: list[tuple[str, str]],
                  range_header: str | None, head: bool) -> Response:
    """200 with the whole object, 206 with one span, or 206 `multipart/byteranges` with several;
    416 (with the object's headers, as Swift sends them) when no span is satisfiable."""
    spans = parse_range(range_header, obj.size) if range_header else None
    if spans == []:
        return Response(html_body(416), 416, [*headers, ("Content-Range", f"bytes */{obj.size}")])
    if spans is None:
        headers.append(("content-length", str(obj.size)))
        return _stream(storage, obj, [(0, obj.size)], 200, headers, head)
    if len(spans) == 1:
        start, end = spans[0]
        headers += [("Content-Range", f"bytes {start}-{end - 1}/{obj.size}"),
                    ("content-length", str(end - start))]
        return _stream(storage, obj, spans, 206, headers, head)
    return _multipart(storage, obj, spans, headers, head)


def _stream(storage: ObjectStore, obj: ObjectInfo, spans: list[Span], status: int,
            headers: list[tuple[str, str]], head: bool) -> Response:
    if head:
        return Response(b"", status, headers)
    start, end = spans[0]
    if end - start <= 65536 and len(obj.extents) == 1 and obj.extents[0].data is not None:
        data = obj.extents[0].data
        return Response(data[start:end], status, headers)
    return StreamingResponse(storage.read(obj, start, end), status, headers)


def _multipart(storage: ObjectStore, obj: ObjectInfo, spans: list[Span], headers: list[tuple[str, str]],
               head: bool) -> Response:
    boundary = os.urandom(16).hex()
    content_type = next((value for name, value in headers if name == "Content-Type"), "")
    parts = [(f"--{boundary}\r\nContent-Type: {content_type}\r\n"
              f"Content-Range: bytes {start}-{end - 1}/{obj.size}\r\n\r\n").encode() for start, end in spans]
    closing = f"--{boundary}--".encode()
    length = sum(len(part) + (end - start) + 2 for part, (start, end) in zip(parts, spans, strict=True))
    headers = [(name, value) for name, value in headers if name != "Content-Type"]
    headers += [("Content-Type", f"multipart/byteranges;boundary={boundary}"),
                ("content-length", str(length + len(closing)))]
    if head:
        return Response(b"", 206, headers)
    return StreamingResponse(_multipart_chunks(storage, obj, spans, parts, closing), 206, headers)


async def _multipart_chunks(storage: ObjectStore, obj: ObjectInfo, spans: list[Span], parts: list[bytes],
                            closing: bytes) -> AsyncIterator[bytes]:
    for part, (start, end) in zip(parts, spans, strict=True):
        yield part
        async for chunk in storage.read(obj, start, end):
            yield chunk
        yield b"\r\n"
    yield closing
