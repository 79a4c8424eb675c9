"""HTTP object semantics shared by the S3 and Swift front ends: `Range`, conditional requests and the
body of a whole, partial or `multipart/byteranges` answer.

Each front end passes its dialect's differences as a small rules object (`SWIFT_RANGES`, `S3_RANGES`,
`SWIFT_CONDITIONS`, `S3_CONDITIONS`) and turns the neutral answers (spans, a `Verdict`) into its own
errors and headers.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from stackbox.digits import decimal
from stackbox.http import Response, StreamingResponse
from stackbox.storage.contract import ObjectStore
from stackbox.storage.types import ObjectInfo

Span = tuple[int, int]  # [start, end) in bytes
Headers = list[tuple[str, str]]

#: Objects up to this size whose bytes live in their metadata row are answered in one piece.
INLINE_ANSWER_LIMIT = 65536


# --- Range -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RangeRules:
    #: Swift's swob drops every space and reads the unit in any case (`Bytes = 0 - 9`); S3 wants `bytes=`.
    lenient_syntax: bool
    #: Swift serves several spans as `multipart/byteranges`; S3 serves one range per GET and answers a
    #: request for several with the whole object.
    several: bool
    #: RFC 7233 section 6.1: Swift calls a span set "egregious" past these limits and refuses it like
    #: an unsatisfiable one (many small, overlapping or unordered spans cost the server far more than
    #: the client).
    max_spans: int = 50
    max_overlaps: int = 2
    max_unordered: int = 8


SWIFT_RANGES = RangeRules(lenient_syntax=True, several=True)
#: Swift's DLO middleware serves one range and the whole object for several.
SWIFT_DLO_RANGES = RangeRules(lenient_syntax=True, several=False)
S3_RANGES = RangeRules(lenient_syntax=False, several=False)


def parse_range(header: str | None, size: int, rules: RangeRules) -> list[Span] | None:
    """The satisfiable spans of a `Range` header, in request order. None: serve the whole object (no
    header, a malformed one, or one the dialect ignores); []: 416 (nothing satisfiable, or an
    egregious set)."""
    specs = _range_specs(header, rules)
    if specs is None:
        return None
    if len(specs) > 1 and not rules.several:
        return None
    if size == 0 and rules.lenient_syntax and any(start is None for start, _ in specs):
        # swob: a suffix span of an empty object is "up to the last N bytes": all zero of them, with a 200.
        return None
    if len(specs) == 1:  # the common case: one span cannot be egregious
        span = _clamp(specs[0], size)
        return [] if span is None else [span]
    spans = [span for span in (_clamp(spec, size) for spec in specs) if span is not None]
    return [] if _egregious(spans, rules) else spans


def _range_specs(header: str | None, rules: RangeRules) -> list[tuple[int | None, int | None]] | None:
    if not header:
        return None
    if rules.lenient_syntax:
        header = header.replace(" ", "")
        if not header.lower().startswith("bytes="):
            return None
    elif not header.startswith("bytes="):
        return None
    specs = []
    for item in header[len("bytes="):].split(","):
        spec = _parse_spec(item.strip())
        if spec is None:
            return None
        specs.append(spec)
    return specs


def _parse_spec(spec: str) -> tuple[int | None, int | None] | None:
    """`first-`, `first-last` or `-suffix_length`, all decimal, last >= first."""
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


def _egregious(spans: list[Span], rules: RangeRules) -> bool:
    if len(spans) > rules.max_spans:
        return True
    overlaps = sum(1 for first, second in itertools.combinations(spans, 2) if _overlap(first, second))
    if overlaps > rules.max_overlaps:
        return True
    ascending = all(first <= second for first, second in itertools.pairwise(spans))
    return not ascending and len(spans) >= rules.max_unordered


def _overlap(first: Span, second: Span) -> bool:
    """Swift's test: one span's boundary falls strictly inside the other."""
    (start1, end1), (start2, end2) = first, second
    return (start1 < start2 < end1 or start1 < end2 < end1
            or start2 < start1 < end2 or start2 < end1 < end2)


def content_range(span: Span, size: int) -> str:
    start, end = span
    return f"bytes {start}-{end - 1}/{size}"


# --- Conditional requests ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ConditionRules:
    #: True: RFC 9110 section 13.2.2 (S3): If-Match decides before If-Unmodified-Since, If-None-Match before
    #: If-Modified-Since, and a failed entity-tag test wins over a "not modified". False: Swift's swob, which
    #: tests If-None-Match, If-Match, If-Modified-Since, If-Unmodified-Since in turn, each on its own.
    rfc_precedence: bool
    #: S3 compares `W/"etag"` as the etag itself; swob compares the tag as sent.
    weak_matches: bool


SWIFT_CONDITIONS = ConditionRules(rfc_precedence=False, weak_matches=False)
S3_CONDITIONS = ConditionRules(rfc_precedence=True, weak_matches=True)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A conditional request that is not served: 304 Not Modified or 412 Precondition Failed."""

    status: int
    #: The header that decided it (S3 names it in its error).
    condition: str


def evaluate_conditions(headers: Mapping[str, str], etag: str, modified: int,
                        rules: ConditionRules) -> Verdict | None:
    """None when the request may be served. `etag` is unquoted; `modified` is the object's Last-Modified
    in whole seconds, as its answers show it."""
    if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
    since, unmodified_since = headers.get("if-modified-since"), headers.get("if-unmodified-since")
    if if_match is None and if_none_match is None and since is None and unmodified_since is None:
        return None  # the common case, on every GET and HEAD
    weak = rules.weak_matches
    if rules.rfc_precedence:
        if if_match is not None:
            if not etag_matches(if_match, etag, weak=weak):
                return Verdict(412, "If-Match")
        elif _modified_after(modified, unmodified_since):
            return Verdict(412, "If-Unmodified-Since")
        if if_none_match is not None:
            return Verdict(304, "If-None-Match") if etag_matches(if_none_match, etag, weak=weak) else None
        return Verdict(304, "If-Modified-Since") if _not_modified_since(modified, since) else None
    if if_none_match is not None and etag_matches(if_none_match, etag, weak=weak):
        return Verdict(304, "If-None-Match")
    if if_match is not None and not etag_matches(if_match, etag, weak=weak):
        return Verdict(412, "If-Match")
    if _not_modified_since(modified, since):
        return Verdict(304, "If-Modified-Since")
    if _modified_after(modified, unmodified_since):
        return Verdict(412, "If-Unmodified-Since")
    return None


def _not_modified_since(modified: int, header: str | None) -> bool:
    moment = header_time(header)
    return moment is not None and modified <= moment


def _modified_after(modified: int, header: str | None) -> bool:
    moment = header_time(header)
    return moment is not None and modified > moment


def etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """An If-Match/If-None-Match list names `etag` (unquoted) or `*`."""
    for item in header.split(","):
        candidate = item.strip()
        if weak:
            candidate = candidate.removeprefix("W/")
        if candidate == "*" or candidate.strip('"') == etag:
            return True
    return False


def header_time(value: str | None) -> float | None:
    """Seconds since the epoch of an HTTP date header, None when absent or unreadable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --- Bodies ------------------------------------------------------------------------------------

def span_answer(storage: ObjectStore, obj: ObjectInfo, span: Span, status: int, headers: Headers,
                *, head: bool, customer_key: bytes | None = None) -> Response:
    """The bytes of one span (the whole object when it spans it); headers are the caller's, complete.
    `customer_key`: an SSE-C object's key (the engine refuses to read one without it)."""
    if head:
        return Response(b"", status, headers)
    start, end = span
    inline = inline_data(obj)
    if inline is not None and end - start <= INLINE_ANSWER_LIMIT and obj.sealing is None:
        return Response(inline[start:end], status, headers)
    return StreamingResponse(storage.read(obj, start, end, customer_key=customer_key), status, headers)


def inline_data(obj: ObjectInfo) -> bytes | None:
    """The bytes of a small object kept in its metadata row: sent in one piece, without streaming."""
    if len(obj.extents) == 1 and obj.extents[0].data is not None:
        return obj.extents[0].data
    return None


def multipart_answer(storage: ObjectStore, obj: ObjectInfo, spans: list[Span], headers: Headers,
                     content_type: str, *, head: bool) -> Response:
    """206 `multipart/byteranges`: one part per span, each with the object's type and its Content-Range.
    `headers` must not hold Content-Type or Content-Length (added here)."""
    boundary = os.urandom(16).hex()
    parts = [(f"--{boundary}\r\nContent-Type: {content_type}\r\n"
              f"Content-Range: {content_range(span, obj.size)}\r\n\r\n").encode() for span in spans]
    closing = f"--{boundary}--".encode()
    length = sum(len(part) + (end - start) + 2 for part, (start, end) in zip(parts, spans, strict=True))
    headers = [*headers, ("Content-Type", f"multipart/byteranges;boundary={boundary}"),
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
