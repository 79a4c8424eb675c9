"""Large objects: static (SLO, a JSON manifest of segments) and dynamic (DLO, a container/prefix).

An SLO is stored by the engine as extents over its segments' blobs, so reads (and ranges across
segments) cost the same as for a plain object. A DLO is resolved on every read from the current
listing of its prefix, as in Swift.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import orjson

from stackbox.http import BodyTooLarge, Response
from stackbox.storage.engine import Engine
from stackbox.storage.types import (
    Extent,
    NoSuchContainer,
    NoSuchObject,
    ObjectInfo,
    Preconditions,
    SegmentRef,
)
from stackbox.swift.bulk import deletion_report
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError, bad_request
from stackbox.swift.headers import iso_date
from stackbox.swift.object_meta import created, request_attrs

MAX_MANIFEST_SEGMENTS = 1000
MAX_MANIFEST_SIZE = 8 * 1024 * 1024
#: A DLO lists at most this many segments (Swift stops at its container listing limit too).
MAX_DLO_SEGMENTS = 10_000


# ---------------------------------------------------------------------------------------------- SLO


async def put_slo(call: Call) -> Response:
    try:
        raw = await call.request.body(MAX_MANIFEST_SIZE)
    except BodyTooLarge:
        raise SwiftError(413, f"Manifest File > {MAX_MANIFEST_SIZE} bytes") from None
    entries = _parse_manifest(raw)
    segments, document = _resolve_segments(call, entries)
    expected = call.headers.get("etag")
    attrs = dataclasses.replace(request_attrs(call), manifest=orjson.dumps(document))
    info = call.storage.put_manifest_object(call.account, call.container, call.obj, segments, attrs=attrs,
                                            preconditions=Preconditions())
    if expected is not None and expected.strip().strip('"') != info.etag:
        call.storage.delete_object(call.account, call.container, call.obj)
        raise SwiftError(422)
    return created(info)


def _parse_manifest(raw: bytes) -> list[dict[str, Any]]:
    try:
        entries = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("Manifest must be valid JSON.\n") from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise bad_request("Manifest must be a list.\n")
    if not entries:
        raise bad_request("Manifest must have at least one segment.\n")
    if len(entries) > MAX_MANIFEST_SEGMENTS:
        raise bad_request(f"Too many segments; max {MAX_MANIFEST_SEGMENTS}.\n")
    return entries


def _resolve_segments(call: Call,
                      entries: list[dict[str, Any]]) -> tuple[list[SegmentRef], list[dict[str, Any]]]:
    """The engine's segment references plus the manifest document `multipart-manifest=get` returns."""
    segments: list[SegmentRef] = []
    document: list[dict[str, Any]] = []
    problems: list[str] = []
    for entry in entries:
        resolved = _resolve_entry(call, entry)
        if isinstance(resolved, str):
            problems.append(resolved)
        else:
            segments.append(resolved[0])
            document.append(resolved[1])
    if problems:
        raise bad_request("Errors:\n" + "\n".join(problems))
    return segments, document


def _resolve_entry(call: Call, entry: dict[str, Any]) -> tuple[SegmentRef, dict[str, Any]] | str:
    """A segment and its manifest document entry, or the problem Swift reports for it."""
    path = entry.get("path")
    if not isinstance(path, str) or "/" not in path.lstrip("/"):
        raise bad_request("Manifest entry 'path' must be of the form /container/object.\n")
    container, _, key = path.lstrip("/").partition("/")
    try:
        source = call.storage.head_object(call.account, container, key)
    except (NoSuchObject, NoSuchContainer):
        return f"{path}, 404 Not Found"
    problem = _mismatch(entry, source)
    if problem:
        return f"{path}, {problem}"
    start, end = _segment_range(entry.get("range"), source.size)
    segment = SegmentRef(container, key, start, end, etag=source.etag, size=source.size)
    return segment, _document_entry(path, source, entry.get("range"))


def _mismatch(entry: dict[str, Any], source: ObjectInfo) -> str | None:
    etag = entry.get("etag")
    if etag is not None and str(etag).strip('"') != source.etag:
        return "Etag Mismatch"
    size = entry.get("size_bytes")
    if size is not None and (not isinstance(size, int) or size != source.size):
        return "Size Mismatch"
    return None


def _segment_range(spec: Any, size: int) -> tuple[int | None, int | None]:
    if spec is None:
        return None, None
    first, dash, last = str(spec).partition("-")
    if not dash or not first.isdigit() or not (last.isdigit() or not last):
        raise bad_request(f"Invalid range: {spec}\n")
    start = int(first)
    end = int(last) + 1 if last else size
    if not start < end <= size:
        raise bad_request(f"Unsatisfiable range: {spec}\n")
    return start, end


def _document_entry(path: str, source: ObjectInfo, segment_range: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "/" + path.lstrip("/"), "hash": source.etag, "bytes": source.size,
                             "content_type": source.content_type,
                             "last_modified": iso_date(source.last_modified)}
    if segment_range is not None:
        entry["range"] = str(segment_range)
    return entry


def manifest_entries(obj: ObjectInfo) -> list[dict[str, Any]]:
    return orjson.loads(obj.manifest) if obj.manifest else []


def slo_manifest_response(call: Call, obj: ObjectInfo) -> Response:
    entries = manifest_entries(obj)
    if call.query.get("format") == "raw":
        entries = [{"path": e["name"], "etag": e["hash"], "size_bytes": e["bytes"],
                    **({"range": e["range"]} if "range" in e else {})} for e in entries]
    headers = [("Content-Type", "application/json; charset=utf-8"), ("X-Static-Large-Object", "True"),
               ("Etag", obj.etag)]
    return Response(orjson.dumps(entries), 200, headers)


async def delete_slo(call: Call) -> Response:
    """Delete the manifest and then its segments; reports like a bulk delete."""
    obj = call.storage.head_object(call.account, call.container, call.obj)
    if obj.manifest_type != "slo":
        call.storage.delete_object(call.account, call.container, call.obj)
        return Response(b"", 204)
    paths = [entry["name"] for entry in manifest_entries(obj)]
    paths.append(f"/{call.container}/{call.obj}")
    return deletion_report(call, paths)


# ---------------------------------------------------------------------------------------------- DLO


def resolve_dlo(storage: Engine, manifest: ObjectInfo) -> ObjectInfo:
    """The manifest with the data, size and etag of its current segments (Swift's DLO etag: the MD5
    of the segments' etags, quoted on output)."""
    container, _, prefix = (manifest.manifest or b"").decode().partition("/")
    extents: list[Extent] = []
    etags = hashlib.md5(usedforsecurity=False)
    marker = ""
    count = 0
    while count < MAX_DLO_SEGMENTS:
        try:
            listing = storage.list_objects(manifest.account, container, prefix=prefix, marker=marker)
        except NoSuchContainer:
            break
        for entry in listing.objects:
            segment = _live_segment(storage, manifest.account, container, entry.key)
            if segment is not None:
                extents.extend(segment.extents)
                etags.update(segment.etag.encode())
        count += len(listing.objects)
        if not listing.truncated or listing.next_marker is None:
            break
        marker = listing.next_marker
    size = sum(extent.length for extent in extents)
    return dataclasses.replace(manifest, size=size, etag=etags.hexdigest(), extents=tuple(extents))


def _live_segment(storage: Engine, account: str, container: str, key: str) -> ObjectInfo | None:
    try:
        return storage.head_object(account, container, key)
    except (NoSuchObject, NoSuchContainer):
        return None
