"""GetObject and HeadObject (one range, conditionals, response-* overrides, partNumber)
and GetObjectAttributes."""

from __future__ import annotations

from collections.abc import Mapping

from stackbox import objecthttp
from stackbox.digits import decimal
from stackbox.http import Response
from stackbox.s3 import sse, xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import checksum_element, object_headers
from stackbox.s3.lifecycle import expiration_headers
from stackbox.s3.object_lock import lock_headers
from stackbox.s3.versioning import requested_version, version_headers
from stackbox.storage.types import NO_LOCK, ObjectInfo

Span = objecthttp.Span

_OVERRIDDEN = ("content-type", "content-language", "expires", "cache-control", "content-disposition",
               "content-encoding")
_OVERRIDES = {f"response-{name}": name for name in _OVERRIDDEN}
_ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})
MAX_PART_NUMBER = 10_000


async def get_object(call: S3Call) -> Response:
    return await _read(call, head=False)


async def head_object(call: S3Call) -> Response:
    return await _read(call, head=True)


async def _read(call: S3Call, *, head: bool) -> Response:
    version_id = requested_version(call)
    obj = await call.storage.head_object(call.account, call.bucket, call.key, version_id)
    if call.object_acl_decides:
        call.check_object_acl(obj.acl)
    customer_key = sse.customer_key_of(call)
    if customer_key is not None or obj.sealing is not None:
        call.storage.check_encryption_key(obj, customer_key)
    request_headers = call.headers
    not_modified = check_conditions(request_headers, obj)
    checksum_mode = request_headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    headers = object_headers(obj, checksum=checksum_mode and "range" not in request_headers)
    if obj.version_id is not None:
        headers += version_headers(obj)
    if obj.lock is not NO_LOCK:
        headers += lock_headers(obj)
    if obj.sealing is not None:
        headers += sse.encryption_headers(call, obj.sealing)
    if version_id is None:
        headers += await expiration_headers(call, obj)
    if not_modified:
        return Response(b"", 304, [h for h in headers if h[0] in ("etag", "last-modified")])
    if call.query:
        headers = _with_overrides(headers, call.query)
    part = _part_range(call, obj, headers)
    byte_range = part if part is not None else parse_range(request_headers.get("range"), obj.size)
    if byte_range is None:
        return _whole(call, obj, headers, head, customer_key)
    # A part is a range even when it is a simple object's whole (S3 answers 206 and its Content-Range),
    # except for an empty object, which has no byte range to name.
    partial = part is None or obj.parts != () or obj.size > 0
    return _single_range(call, obj, headers, byte_range, head, customer_key, partial=partial)


def check_conditions(headers: Mapping[str, str], obj: ObjectInfo) -> bool:
    """RFC 9110 as S3 applies it: PreconditionFailed, or True for 304 Not Modified."""
    verdict = objecthttp.evaluate_conditions(headers, obj.etag, int(obj.last_modified),
                                             objecthttp.S3_CONDITIONS)
    if verdict is not None and verdict.status == 412:
        raise S3Error("PreconditionFailed", Condition=verdict.condition)
    return verdict is not None


def parse_range(header: str | None, size: int) -> Span | None:
    """The one range of a `Range` header; None to send the whole object (no header, one S3 ignores
    because it is not a valid bytes range, or several ranges: S3 serves one range per GET and answers
    a multi-range request with the whole object). InvalidRange if the range cannot be satisfied."""
    if header is None:
        return None
    spans = objecthttp.parse_range(header, size, objecthttp.S3_RANGES)
    if spans is None:
        return None
    if not spans:
        raise S3Error("InvalidRange", headers=[("content-range", f"bytes */{size}")],
                      RangeRequested=header or "", ActualObjectSize=str(size))
    return spans[0]


def _part_range(call: S3Call, obj: ObjectInfo, headers: list[tuple[str, str]]) -> Span | None:
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
        return 0, obj.size
    if number > len(obj.parts):
        raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", status=416)
    start = sum(part.size for part in obj.parts[: number - 1])
    headers.append(("x-amz-mp-parts-count", str(len(obj.parts))))
    return start, start + obj.parts[number - 1].size


def _with_overrides(headers: list[tuple[str, str]], query: Mapping[str, str]) -> list[tuple[str, str]]:
    overrides = {_OVERRIDES[name]: value for name, value in query.items() if name in _OVERRIDES}
    if not overrides:
        return headers
    return [(name, value) for name, value in headers if name not in overrides] + list(overrides.items())


def _whole(call: S3Call, obj: ObjectInfo, headers: list[tuple[str, str]], head: bool,
           customer_key: bytes | None) -> Response:
    headers.append(("content-length", str(obj.size)))
    return objecthttp.span_answer(call.storage, obj, (0, obj.size), 200, headers, head=head,
                                  customer_key=customer_key)


def _single_range(call: S3Call, obj: ObjectInfo, headers: list[tuple[str, str]], byte_range: Span,
                  head: bool, customer_key: bytes | None, *, partial: bool) -> Response:
    start, stop = byte_range
    headers.append(("content-length", str(stop - start)))
    status = 206 if partial else 200
    if partial:
        headers.append(("content-range", objecthttp.content_range(byte_range, obj.size)))
    return objecthttp.span_answer(call.storage, obj, byte_range, status, headers, head=head,
                                  customer_key=customer_key)


async def get_object_attributes(call: S3Call) -> Response:
    obj = await call.storage.head_object(call.account, call.bucket, call.key, requested_version(call))
    call.check_object_acl(obj.acl)
    call.storage.check_encryption_key(obj, sse.customer_key_of(call))
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
        children.append(_object_parts(obj, call.headers))
    if "StorageClass" in wanted:
        children.append(xml.element("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        children.append(xml.element("ObjectSize", obj.size))
    headers = [("last-modified", xml.http_date(obj.last_modified)), *version_headers(obj)]
    return xml.xml_response("GetObjectAttributesResponse", children, headers=headers)


def _object_parts(obj: ObjectInfo, headers: Mapping[str, str]) -> str:
    """The ObjectParts page the `x-amz-part-number-marker` and `x-amz-max-parts` headers ask for."""
    marker = _int_param(headers, "x-amz-part-number-marker", 0)
    limit = min(_int_param(headers, "x-amz-max-parts", 1000), 1000)
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


def _int_param(headers: Mapping[str, str], name: str, default: int) -> int:
    raw = headers.get(name)
    if raw is None:
        return default
    value = decimal(raw)
    if value is None:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range",
                      ArgumentName=name, ArgumentValue=raw)
    return value
