"""Large objects: static (SLO, a JSON manifest of segments) and dynamic (DLO, a container/prefix).

An SLO is stored by the engine as extents over its segments' blobs, so reads (and ranges across
segments) cost the same as for a plain object. A DLO is resolved on every read from the current
listing of its prefix, as in Swift.

Segments are read as the caller, as Swift's segment sub-requests are: creating an SLO needs read
access to each segment (and, the data being copied in, to whatever a nested SLO holds), and every
read of a large object's data needs read access where that data lives. An SLO records those
containers (`sys:slo-sources`) and its nesting depth (`sys:slo-depth`) in its system metadata.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import math
import string
from dataclasses import dataclass, field
from typing import Any

import orjson

from stackbox import objecthttp
from stackbox.digits import decimal
from stackbox.http import BodyTooLarge, Response, clean_unquote
from stackbox.storage.contract import ObjectStore
from stackbox.storage.manifests import MAX_SEGMENT_EXTENTS_READ
from stackbox.storage.types import (
    Extent,
    ManifestTooLarge,
    NoSuchContainer,
    NoSuchObject,
    ObjectInfo,
    Preconditions,
    SegmentRef,
)
from stackbox.swift.acl import denied, may_read, may_write
from stackbox.swift.bulk import bulk_report, deletion_report
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError, bad_request, html_error
from stackbox.swift.headers import iso_date
from stackbox.swift.object_meta import created, object_headers, request_attrs

MAX_MANIFEST_SEGMENTS = 1000
MAX_MANIFEST_SIZE = 8 * 1024 * 1024
#: A DLO lists at most this many segments (Swift stops at its container listing limit too).
MAX_DLO_SEGMENTS = 10_000
#: Keys a manifest entry may have (PUT), and those of the stored document, in Swift's order.
MANIFEST_KEYS = frozenset({"path", "etag", "size_bytes", "range"})
DOCUMENT_KEYS = ("name", "bytes", "hash", "content_type", "last_modified", "range", "sub_slo", "data")
#: Levels of SLOs within SLOs (Swift's `max_slo_recursion_depth`).
MAX_SLO_DEPTH = 10
#: System metadata of an SLO: the (account, container) pairs its data was read from, as JSON, and
#: how many levels of manifests it nests.
SOURCES_META = "sys:slo-sources"
DEPTH_META = "sys:slo-depth"

Location = tuple[str, str]  # account, container
_BASE64_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/")


# ---------------------------------------------------------------------------------------------- SLO


async def put_slo(call: Call) -> Response:
    try:
        raw = await call.request.body(MAX_MANIFEST_SIZE)
    except BodyTooLarge:
        raise SwiftError(413, f"Manifest File > {MAX_MANIFEST_SIZE} bytes") from None
    entries = _parse_manifest(raw, f"{call.container}/{call.obj}")
    resolved = await _resolve_segments(call, entries)
    expected = call.headers.get("etag")
    attrs = request_attrs(call)
    system = {SOURCES_META: json.dumps(sorted(resolved.sources)), DEPTH_META: str(resolved.depth)}
    attrs = dataclasses.replace(attrs, meta={**attrs.meta, **system},
                                manifest=render_manifest(resolved.document))
    try:
        info = await call.storage.put_manifest_object(call.account, call.container, call.obj,
                                                      resolved.segments, attrs=attrs,
                                                      preconditions=Preconditions())
    except ManifestTooLarge as exc:
        raise bad_request(f"Manifest too large: {exc}.\n") from None
    if expected is not None and expected.strip().strip('"') != info.etag:
        await call.storage.delete_object(call.account, call.container, call.obj)
        raise SwiftError(422)
    return created(info)


def _parse_manifest(raw: bytes, own_path: str) -> list[dict[str, Any]]:
    """The manifest's entries, checked as Swift checks them: every entry's problems are reported together."""
    try:
        entries = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise html_error(400, "Manifest must be valid JSON.\n") from None
    if not isinstance(entries, list):
        raise html_error(400, "Manifest must be a list.\n")
    if len(entries) > MAX_MANIFEST_SEGMENTS:
        raise html_error(400, f"Too many segments; max {MAX_MANIFEST_SEGMENTS}.\n")
    problems = [problem for index, entry in enumerate(entries)
                if (problem := _entry_problem(index, entry, len(entries), own_path)) is not None]
    if entries and all(isinstance(entry, dict) and "data" in entry for entry in entries):
        problems.append("Inline data segments require at least one object-backed segment.")
    if problems:
        raise bad_request("".join(f"{problem}\n" for problem in problems))
    return entries


def _entry_problem(index: int, entry: Any, count: int, own_path: str) -> str | None:
    if not isinstance(entry, dict):
        return f"Index {index}: not a JSON object"
    kind = next((key for key in ("data", "path") if key in entry), None)
    if kind is None:
        return f"Index {index}: expected keys to include one of 'data' or 'path'"
    extra = sorted(set(entry) - (MANIFEST_KEYS if kind == "path" else {"data"}))
    if extra:
        names = ", ".join(json.dumps(name) for name in extra)
        return f"Index {index}: extraneous keys {names}"
    if kind == "data":
        return _data_problem(index, entry)
    path = entry["path"]
    if not isinstance(path, str):
        return f'Index {index}: "path" must be a string'
    if not isinstance(entry.get("etag", ""), str | None):
        return f'Index {index}: "etag" must be a string or null (if provided)'
    if "/" not in path.strip("/"):
        return (f"Index {index}: path does not refer to an object. "
                "Path must be of the form /container/object.")
    size = entry.get("size_bytes")
    if size is not None and isinstance(size, int) and size < 1 and index != count - 1:
        return f"Index {index}: too small; each segment must be at least 1 byte."
    if path.lstrip("/") == own_path:
        return f"Index {index}: manifest must not include itself as a segment"
    if entry.get("range") and _parse_range_spec(entry["range"]) is None:
        return f"Index {index}: invalid range"
    return None


def _data_problem(index: int, entry: dict[str, Any]) -> str | None:
    """Inline data must be strict base64 of at least one byte; stored with its padding normalized."""
    raw = entry["data"]
    try:
        if not isinstance(raw, str) or not set(raw.strip("=")) <= _BASE64_ALPHABET:
            raise ValueError(raw)
        data = base64.b64decode(raw)
    except (ValueError, binascii.Error):
        return f"Index {index}: data must be valid base64"
    if not data:
        return f"Index {index}: too small; each segment must be at least 1 byte."
    entry["data"] = base64.b64encode(data).decode("ascii")
    return None


@dataclass(slots=True)
class _Resolved:
    """A manifest's segments read as the caller: the engine's references, the document
    `multipart-manifest=get` returns, where the data comes from and how deep SLOs nest."""

    segments: list[SegmentRef] = field(default_factory=list)
    document: list[dict[str, Any]] = field(default_factory=list)
    sources: set[Location] = field(default_factory=set)
    depth: int = 1


async def _resolve_segments(call: Call, entries: list[dict[str, Any]]) -> _Resolved:
    resolved = _Resolved()
    problems: list[str] = []
    read = _SegmentReader(call)
    for entry in entries:
        if "data" in entry:
            resolved.segments.append(SegmentRef("", "", data=base64.b64decode(entry["data"])))
            resolved.document.append({"data": entry["data"]})
            continue
        outcome = await _resolve_entry(entry, read)
        if isinstance(outcome, str):
            problems.append(outcome)
            continue
        segment, document_entry, source = outcome
        resolved.segments.append(segment)
        resolved.document.append(document_entry)
        if source.manifest_type == "slo":
            resolved.sources.update(segment_sources(source))
            resolved.depth = max(resolved.depth, slo_depth(source) + 1)
        else:
            resolved.sources.add((call.account, segment.container))
    if problems:
        raise bad_request("Errors:\n" + "".join(f"{problem}\n" for problem in problems))
    if len(resolved.sources) > MAX_MANIFEST_SEGMENTS:
        raise bad_request(f"Manifest too large: segments in more than {MAX_MANIFEST_SEGMENTS} containers.\n")
    return resolved


class _SegmentReader:
    """Reads each distinct segment once, as the caller, within the engine's bound on the extents
    read: the segment, or the problem Swift reports for it (its HEAD's status line)."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.allowed: dict[tuple[str, str], bool] = {}
        self.seen: dict[tuple[str, str], ObjectInfo | str] = {}
        self.budget = MAX_SEGMENT_EXTENTS_READ

    async def __call__(self, container: str, key: str) -> ObjectInfo | str:
        source = self.seen.get((container, key))
        if source is None:
            source = self.seen[container, key] = await self._read(container, key)
            self.budget -= 0 if isinstance(source, str) else len(source.extents)
            if self.budget < 0:
                raise bad_request(f"Manifest too large: the segments hold more than "
                                  f"{MAX_SEGMENT_EXTENTS_READ} extents.\n")
        return source

    async def _read(self, container: str, key: str) -> ObjectInfo | str:
        call = self.call
        forbidden = "401 Unauthorized" if call.auth is None else "403 Forbidden"
        if not await self._readable(call.account, container):
            return forbidden
        try:
            source = await call.storage.head_object(call.account, container, key)
        except (NoSuchObject, NoSuchContainer):
            return "404 Not Found"
        if source.manifest_type == "slo":
            for location in segment_sources(source):
                if not await self._readable(*location):
                    return forbidden
            if slo_depth(source) >= MAX_SLO_DEPTH:
                return "Max recursion depth exceeded"
        return source


    async def _readable(self, account: str, container: str) -> bool:
        """`may_read`, asked once per container."""
        allowed = self.allowed.get((account, container))
        if allowed is None:
            allowed = self.allowed[account, container] = await may_read(self.call, account, container)
        return allowed


async def _resolve_entry(entry: dict[str, Any],
                         read: _SegmentReader) -> tuple[SegmentRef, dict[str, Any], ObjectInfo] | str:
    """A segment, its manifest document entry and the object read, or the problem Swift reports."""
    path = entry["path"]
    container, _, key = path.lstrip("/").partition("/")
    source = await read(container, key)
    if isinstance(source, str):
        return f"{path}, {source}"
    problem = _mismatch(entry, source)
    if problem:
        return f"{path}, {problem}"
    span = _segment_span(entry.get("range"), source.size)
    if span is None:
        return f"{path}, Range Not Satisfiable"
    if not entry.get("range"):  # as Swift, an empty range selects the whole segment
        segment = SegmentRef(container, key, etag=source.etag, size=source.size)
        return segment, _document_entry(path, source, None), source
    start, end = span
    segment = SegmentRef(container, key, start, end, etag=source.etag, size=source.size)
    return segment, _document_entry(path, source, f"{start}-{end - 1}"), source


def _mismatch(entry: dict[str, Any], source: ObjectInfo) -> str | None:
    etag = entry.get("etag")
    if etag is not None and str(etag).strip('"') != source.etag:
        return "Etag Mismatch"
    size = entry.get("size_bytes")
    if size is not None and (not isinstance(size, int) or size != source.size):
        return "Size Mismatch"
    return None


def _parse_range_spec(spec: Any) -> tuple[int | None, int | None] | None:
    """`first-last`, `first-` or `-suffix` (as in a Range header); None if malformed."""
    first, dash, last = str(spec).partition("-")
    start, end = (decimal(first) if first else None), (decimal(last) if last else None)
    if not dash or not first + last or (first and start is None) or (last and end is None):
        return None
    if start is not None and end is not None and end < start:
        return None
    return start, end


def _segment_span(spec: Any, size: int) -> tuple[int, int] | None:
    """[start, end) of the segment a manifest entry selects; None when unsatisfiable."""
    if not spec:
        return 0, size
    parsed = _parse_range_spec(spec)
    assert parsed is not None  # checked by _check_entry_shape
    first, last = parsed
    if first is None:
        start, end = max(size - (last or 0), 0), size
    else:
        start, end = first, size if last is None else min(last + 1, size)
    return (start, end) if start < end else None


def _document_entry(path: str, source: ObjectInfo, segment_range: str | None) -> dict[str, Any]:
    """Swift's stored manifest entry; the segment's time is its Last-Modified (whole seconds)."""
    entry: dict[str, Any] = {"name": "/" + path.lstrip("/"), "bytes": source.size, "hash": source.etag,
                             "content_type": source.content_type,
                             "last_modified": iso_date(math.ceil(source.last_modified))}
    if segment_range is not None:
        entry["range"] = segment_range
    if source.manifest_type == "slo":
        entry["sub_slo"] = True
    return entry


def render_manifest(document: list[dict[str, Any]]) -> bytes:
    """The manifest as Swift stores and returns it (Python's JSON style, Swift's key order)."""
    ordered = [{key: entry[key] for key in DOCUMENT_KEYS if key in entry} for entry in document]
    return json.dumps(ordered).encode()


def manifest_entries(obj: ObjectInfo) -> list[dict[str, Any]]:
    """The manifest document of an SLO, or a synthetic one for an S3 multipart object (its parts as
    they would sit in Swift's `<bucket>+segments` container)."""
    if obj.manifest:
        entries: list[dict[str, Any]] = orjson.loads(obj.manifest)
        return entries
    modified = iso_date(math.ceil(obj.last_modified))
    return [{"name": f"/{obj.container}+segments/{obj.key}/{part.number}", "bytes": part.size,
             "hash": part.etag, "content_type": obj.content_type, "last_modified": modified}
            for part in obj.parts]


def _raw_entry(entry: dict[str, Any]) -> dict[str, Any]:
    if "data" in entry:
        return {"data": entry["data"]}
    raw = {"etag": entry["hash"], "path": entry["name"], "size_bytes": entry["bytes"]}
    if "range" in entry:
        raw["range"] = entry["range"]
    return dict(sorted(raw.items()))


def slo_manifest_response(call: Call, obj: ObjectInfo) -> Response:
    """`multipart-manifest=get`: the manifest document (or `format=raw`, as PUT takes it), with the
    object's headers; the Etag is the document's own MD5."""
    entries = manifest_entries(obj)
    if call.query.get("format") == "raw":
        body = json.dumps([_raw_entry(entry) for entry in entries]).encode()
        content_type = "application/octet-stream"
    else:
        body = render_manifest(entries)
        content_type = "application/json; charset=utf-8"
    headers = [(name, value) for name, value in object_headers(obj)
               if name not in ("Content-Type", "Etag", "X-Manifest-Etag")]
    etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
    headers += [("Content-Type", content_type), ("Etag", etag), ("content-length", str(len(body)))]
    return Response(b"" if call.method == "HEAD" else body, 200, headers)


def part_number(call: Call) -> int | None:
    """`?part-number=N` on a GET or HEAD of an SLO (or an S3 multipart object): N, checked as Swift does."""
    raw = call.query.get("part-number")
    if raw is None:
        return None
    number = decimal(raw.strip())
    if number is None or number < 1:
        raise _part_number_error(call, "Part number must be an integer greater than 0")
    if "range" in call.headers:
        raise _part_number_error(call, "Range requests are not supported with part number queries")
    return number


def _part_number_error(call: Call, detail: str) -> SwiftError:
    """Swift's slo middleware answers a HEAD with the length of the body it leaves out."""
    length = [("content-length", str(len(detail)))] if call.method == "HEAD" else []
    return SwiftError(400, detail, headers=length, content_type=HTML)


def part_answer(storage: ObjectStore, obj: ObjectInfo, number: int, headers: list[tuple[str, str]], *,
                head: bool) -> Response:
    """206 with the bytes of segment (or S3 part) `number`, or 416 past the last one."""
    lengths = _part_lengths(obj)
    headers = [*headers, ("X-Parts-Count", str(len(lengths)))]
    if number > len(lengths):
        body = b"" if head else b"The requested part number is not satisfiable"
        headers += [("Content-Range", f"bytes */{obj.size}"), ("content-length", str(len(body)))]
        return Response(body, 416, headers)
    start = sum(lengths[:number - 1])
    span = (start, start + lengths[number - 1])
    headers += [("Content-Range", objecthttp.content_range(span, obj.size)),
                ("content-length", str(lengths[number - 1]))]
    return objecthttp.span_answer(storage, obj, span, 206, headers, head=head)


def _part_lengths(obj: ObjectInfo) -> list[int]:
    if obj.parts:
        return [part.size for part in obj.parts]
    return [_entry_length(entry) for entry in manifest_entries(obj)]


def _entry_length(entry: dict[str, Any]) -> int:
    if "data" in entry:
        return len(base64.b64decode(entry["data"]))
    if "range" in entry:
        first, _, last = str(entry["range"]).partition("-")
        return int(last) - int(first) + 1
    return int(entry["bytes"])


def segment_sources(obj: ObjectInfo) -> list[Location]:
    """Where an SLO's data was read from: as recorded, else (an SLO stored before they were) the
    containers its manifest names."""
    recorded = obj.meta.get(SOURCES_META)
    if recorded is not None:
        return [(account, container) for account, container in orjson.loads(recorded)]
    names = (entry["name"] for entry in manifest_entries(obj) if "name" in entry)
    return sorted({(obj.account, name.lstrip("/").partition("/")[0]) for name in names})


def slo_depth(obj: ObjectInfo) -> int:
    return int(obj.meta.get(DEPTH_META, "1"))


def slo_system_meta(obj: ObjectInfo) -> dict[str, str]:
    """The system metadata an SLO keeps through metadata updates and manifest copies."""
    return {name: obj.meta[name] for name in (SOURCES_META, DEPTH_META) if name in obj.meta}


async def authorize_segments(call: Call, obj: ObjectInfo) -> None:
    """Raise unless the caller may read the data of large object `obj` where it lives, as Swift
    authorises its segment sub-requests: a DLO's listing answers 401/403 itself, an SLO whose
    segments cannot be read answers 409 Conflict."""
    if obj.manifest_type == "dlo" and not await may_read(call, obj.account, dlo_container(obj), listing=True):
        raise denied(call)
    if obj.manifest_type == "slo":
        for where in segment_sources(obj):
            if not await may_read(call, *where):
                raise SwiftError(409)


async def delete_slo(call: Call) -> Response:
    """Delete the manifest and then its segments; reports like a bulk delete. Segments the caller
    may not delete are reported and nothing is deleted."""
    obj = await call.storage.head_object(call.account, call.container, call.obj)
    if obj.manifest_type != "slo":
        return bulk_report(call, {"Number Deleted": 0, "Number Not Found": 0},
                           [[f"/{call.container}/{call.obj}", "Not an SLO manifest"]], "200 OK")
    paths = [entry["name"] for entry in manifest_entries(obj) if "name" in entry]
    forbidden = [[path, "403 Forbidden"] for path in paths
                 if not await may_write(call, call.account, path.lstrip("/").partition("/")[0])]
    if forbidden:
        return bulk_report(call, {"Number Deleted": 0, "Number Not Found": 0}, forbidden, "200 OK")
    paths.append(f"/{call.container}/{call.obj}")
    return deletion_report(call, paths)


# ---------------------------------------------------------------------------------------------- DLO


async def resolve_dlo(storage: ObjectStore, manifest: ObjectInfo) -> ObjectInfo:
    """The manifest with the data, size and etag of its current segments (Swift's DLO etag: the MD5
    of the segments' etags, quoted on output)."""
    container, prefix = dlo_location(manifest)
    extents: list[Extent] = []
    etags = hashlib.md5(usedforsecurity=False)
    marker = ""
    count = 0
    while count < MAX_DLO_SEGMENTS:
        try:
            listing = await storage.list_objects(manifest.account, container, prefix=prefix, marker=marker)
        except NoSuchContainer:
            break
        for entry in listing.objects:
            segment = await _live_segment(storage, manifest.account, container, entry.key)
            if segment is not None:
                extents.extend(segment.extents)
                etags.update(segment.etag.encode())
        count += len(listing.objects)
        if not listing.truncated or listing.next_marker is None:
            break
        marker = listing.next_marker
    size = sum(extent.length for extent in extents)
    return dataclasses.replace(manifest, size=size, etag=etags.hexdigest(), extents=tuple(extents))


async def _live_segment(storage: ObjectStore, account: str, container: str, key: str) -> ObjectInfo | None:
    try:
        return await storage.head_object(account, container, key)
    except (NoSuchObject, NoSuchContainer):
        return None


def dlo_location(manifest: ObjectInfo) -> tuple[str, str]:
    """The container and prefix of a DLO: its `X-Object-Manifest` as sent (the header's bytes, which
    the HTTP layer reads as latin-1), percent-decoded and read as UTF-8, as Swift reads it."""
    raw = (manifest.manifest or b"").decode()
    decoded = clean_unquote(raw)
    if decoded is None:  # not UTF-8 once decoded: names no stored object
        decoded = raw
    container, _, prefix = decoded.partition("/")
    return container, prefix


def dlo_container(manifest: ObjectInfo) -> str:
    return dlo_location(manifest)[0]
