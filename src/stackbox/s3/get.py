"""GetObject and HeadObject (one range, conditionals, response-* overrides, partNumber)
and GetObjectAttributes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stackbox.digits import decimal
from stackbox.http import Response, StreamingResponse
from stackbox.s3 import xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import checksum_element, object_headers
from stackbox.s3.lifecycle import expiration_headers
from stackbox.s3.object_lock import lock_headers
from stackbox.s3.signature.canonical import parse_http_date
from stackbox.s3.versioning import requested_version, version_headers
from stackbox.storage.types import ObjectInfo

_OVERRIDDEN = ("content-type", "content-language", "expires", "cache-control", "content-disposition",
               "content-encoding")
_OVERRIDES = {f"response-{name}": name for name in _OVERRIDDEN}
_ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})
MAX_PART_NUMBER = 10_000


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    stop: int  #: exclusive

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{size}"


async def get_object(call: S3Call) -> Response:
    return _read(call, head=False)


async def head_object(call: S3Call) -> Response:
    return _read(call, head=True)


def _read(call: S3Call, *, head: bool) -> Response:
    obj = call.storage.head_object(call.account, call.bucket, call.key, requested_version(call))
    call.check_object_acl(obj.acl)
    not_modified = check_conditions(call.headers, obj)
    checksum_mode = call.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    headers = object_headers(obj, checksum=checksum_mode and "range" not in call.headers)
    headers += version_headers(obj) + lock_headers(obj)
    if requested_version(call) is None:
        headers += expiration_headers(call, obj)
    if not_modified:
        return Response(b"", 304, [h for h in headers if h[0] in ("etag", "last-modified")])
    headers = _with_overrides(headers, call.query)
    part = _part_range(call, obj, headers)
    byte_range = part if part is not None else parse_range(call.headers.get("range"), obj.size)
    if byte_range is None:
        return _whole(call, obj, headers, head)
    return _single_range(call, obj, headers, byte_range, head, partial=part is None or obj.parts != ())


def check_conditions(headers: Mapping[str, str], obj: ObjectInfo) -> bool:
    """RFC 7232 as S3 applies it: PreconditionFailed, or True for 304 Not Modified."""
    modified = int(obj.last_modified)
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_matches(if_match, obj.etag):
            raise S3Error("PreconditionFailed", Condition="If-Match")
    else:
        since = _header_time(headers, "if-unmodified-since")
        if since is not None and modified > since:
            raise S3Error("PreconditionFailed", Condition="If-Unmodified-Since")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, obj.etag)
    since = _header_time(headers, "if-modified-since")
    return since is not None and modified <= since


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [value.strip().removeprefix("W/").strip('"') for value in header.split(",")]
    return "*" in candidates or etag in candidates


def _header_time(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    return parse_http_date(value) if value else None


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range of a `Range` header; None to send the whole object (no header, one S3 ignores
    because it is not a valid bytes range, or several ranges: S3 serves one range per GET and answers
    a multi-range request with the whole object). InvalidRange if the range cannot be satisfied."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, dash, last = header[len("bytes="):].strip().partition("-")
    if not _valid_range_spec(first, dash, last):
        return None
    if not first:
        length = min(int(last), size)
        if length > 0:
            return ByteRange(size - length, size)
    else:
        start = int(first)
        if last and int(last) < start:
            return None
        if start < size:
            return ByteRange(start, min(int(last) + 1, size) if last else size)
    raise S3Error("InvalidRange", headers=[("content-range", f"bytes */{size}")],
                  RangeRequested=header, ActualObjectSize=str(size))


def _valid_range_spec(first: str, dash: str, last: str) -> bool:
    """`first-`, `first-last` or `-suffix_length`, all decimal."""
    if not dash or (last and decimal(last) is None):
        return False
    return decimal(first) is not None or (not first and bool(last))


def _part_range(call: S3Call, obj: ObjectInfo, headers: list[tuple[str, str]]) -> ByteRange | None:
    """`?partNumber=N`: the bytes of part N of a multipart object (the whole of a simple one, as part 1)."""
    raw = call.query.get("partNumber")
    if raw is None:
        return None
    number = decimal(raw)
    if number is None or not 1 <= number <= MAX_PART_NUMBER:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      ArgumentName="partNumber", ArgumentValue=raw)
    if "range" in call.headers:
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    if not obj.parts:
        if number != 1:
            raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", status=416)
        return ByteRange(0, obj.size)
    if number > len(obj.parts):
        raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", status=416)
    start = sum(part.size for part in obj.parts[: number - 1])
    headers.append(("x-amz-mp-parts-count", str(len(obj.parts))))
    return ByteRange(start, start + obj.parts[number - 1].size)


def _with_overrides(headers: list[tuple[str, str]], query: Mapping[str, str]) -> list[tuple[str, str]]:
    overrides = {_OVERRIDES[name]: value for name, value in query.items() if name in _OVERRIDES}
    if not overrides:
        return headers
    return [(name, value) for name, value in headers if name not in overrides] + list(overrides.items())


def _whole(call: S3Call, obj: ObjectInfo, headers: list[tuple[str, str]], head: bool) -> Response:
    headers.append(("content-length", str(obj.size)))
    if head:
        return Response(b"", 200, headers)
    inline = _inline_data(obj)
    if inline is not None:
        return Response(inline, 200, headers)
    return StreamingResponse(call.storage.read(obj), 200, headers)


def _inline_data(obj: ObjectInfo) -> bytes | None:
    """The bytes of a small object kept in its metadata row: sent in one piece, without streaming."""
    if len(obj.extents) == 1 and obj.extents[0].data is not None:
        return obj.extents[0].data
    return None


def _single_range(call: S3Call, obj: ObjectInfo, headers: list[tuple[str, str]], byte_range: ByteRange,
                  head: bool, *, partial: bool) -> Response:
    headers.append(("content-length", str(byte_range.stop - byte_range.start)))
    status = 206 if partial else 200
    if partial:
        headers.append(("content-range", byte_range.content_range(obj.size)))
    if head:
        return Response(b"", status, headers)
    return StreamingResponse(call.storage.read(obj, byte_range.start, byte_range.stop), status, headers)


async def get_object_attributes(call: S3Call) -> Response:
    obj = call.storage.head_object(call.account, call.bucket, call.key, requested_version(call))
    call.check_object_acl(obj.acl)
    requested = call.headers.get("x-amz-object-attributes", "").split(",")
    wanted = {name.strip() for name in requested if name.strip()}
    if not wanted or not wanted <= _ATTRIBUTES:
        raise S3Error("InvalidArgument", "Invalid attribute name specified.")
    check_conditions(call.headers, obj)
    children: list[str] = []
    if "ETag" in wanted:
        children.append(xml.element("ETag", obj.etag))
    if "Checksum" in wanted and obj.checksum is not None:
        checksum = obj.checksum
        children.append("<Checksum>" + checksum_element(checksum)
                        + xml.element("ChecksumType", checksum.type) + "</Checksum>")
    if "ObjectParts" in wanted and obj.parts:
        children.append(_object_parts(obj, call.query))
    if "StorageClass" in wanted:
        children.append(xml.element("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        children.append(xml.element("ObjectSize", obj.size))
    headers = [("last-modified", xml.http_date(obj.last_modified)), *version_headers(obj)]
    return xml.xml_response("GetObjectAttributesResponse", children, headers=headers)


def _object_parts(obj: ObjectInfo, query: Mapping[str, str]) -> str:
    marker = _int_param(query, "part-number-marker", 0)
    limit = min(_int_param(query, "max-parts", 1000), 1000)
    after = [part for part in obj.parts if part.number > marker]
    shown = after[:limit]
    algorithm = obj.checksum.algorithm.upper() if obj.checksum is not None else None
    parts = "".join(
        "<Part>" + xml.element("PartNumber", part.number) + xml.element("Size", part.size)
        + (xml.element(f"Checksum{algorithm}", part.checksum) if algorithm and part.checksum else "")
        + "</Part>" for part in shown)
    return ("<ObjectParts>" + xml.element("PartsCount", len(obj.parts))
            + xml.element("PartNumberMarker", marker)
            + xml.element("NextPartNumberMarker", shown[-1].number if shown else marker)
            + xml.element("MaxParts", limit) + xml.element("IsTruncated", len(after) > limit)
            + parts + "</ObjectParts>")


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    value = decimal(raw)
    if value is None:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range",
                      ArgumentName=name, ArgumentValue=raw)
    return value
