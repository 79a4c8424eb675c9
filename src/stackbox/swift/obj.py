"""Object PUT, GET, HEAD, POST and DELETE (copies are in `copying`, large objects in `large_objects`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from stackbox import objecthttp
from stackbox.http import Response
from stackbox.storage.contract import ObjectStore
from stackbox.storage.types import ObjectAttrs, ObjectInfo, Preconditions, StorageError, WriteChecks
from stackbox.swift import copying, large_objects, legacy_versioning, symlink, versioning
from stackbox.swift.container import ALLOWED_METHODS
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError, bad_request, html_body, html_error
from stackbox.swift.headers import MAX_FILE_SIZE
from stackbox.swift.object_meta import check_object_name, created, object_headers, request_attrs


def declared_length(headers: Mapping[str, str]) -> int | None:
    """Content-Length (None for chunked transfer encoding); 411 without either, 413 past the limit."""
    raw = headers.get("content-length")
    if raw is None:
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            raise SwiftError(411, "Missing Content-Length header.")
        return None
    if not raw.isdigit():
        raise bad_request("Invalid Content-Length header value")
    length = int(raw)
    if length > MAX_FILE_SIZE:
        raise SwiftError(413, "Your request is too large.")
    return length


def _preconditions(headers: Mapping[str, str]) -> Preconditions:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise bad_request("If-None-Match only supports *")
    return Preconditions(if_none_match_star=if_none_match is not None)


def _expected_md5(headers: Mapping[str, str]) -> str | None:
    etag = headers.get("etag")
    return etag.strip().strip('"').lower() if etag else None


async def put_object(call: Call) -> Response:
    check_object_name(call.obj)
    version_id = versioning.requested_version(call)
    if version_id is not None and "x-copy-from" not in call.headers:
        return await versioning.restore(call, version_id)
    await legacy_versioning.before_put(call)
    if symlink.is_link_put(call):
        return await symlink.put_symlink(call, _preconditions(call.headers))
    if "x-copy-from" in call.headers:
        return await copying.copy_from(call)
    if call.query.get("multipart-manifest") == "put":
        return await large_objects.put_slo(call)
    length = declared_length(call.headers)
    attrs = request_attrs(call)
    checks = WriteChecks(length=length, max_length=MAX_FILE_SIZE, md5_hex=_expected_md5(call.headers))
    info = await call.storage.put_object(call.account, call.container, call.obj, call.request.stream(),
                                         attrs=attrs, checks=checks,
                                         preconditions=_preconditions(call.headers))
    response = created(info)
    response.headers += versioning.put_headers(info)
    return response


async def get_object(call: Call) -> Response:
    head = call.method == "HEAD"
    version_id = versioning.requested_version(call)
    obj, link_headers = await symlink.followed(call, await _read(call, version_id))
    manifest_get = call.query.get("multipart-manifest") == "get"
    if (obj.manifest_type == "slo" or obj.parts) and manifest_get:
        return large_objects.slo_manifest_response(call, obj)
    is_slo = obj.manifest_type == "slo" or bool(obj.parts)
    part_number = large_objects.part_number(call) if is_slo and not manifest_get else None
    resolve = obj.manifest_type == "dlo" and not manifest_get
    # Swift reads an SLO's segments only for a GET, a DLO's listing for a HEAD too.
    if resolve or not head:
        await large_objects.authorize_segments(call, obj)
    if resolve:
        obj = await large_objects.resolve_dlo(call.storage, obj)
    headers = object_headers(obj, resolved_dlo=resolve) + link_headers
    version_headers = versioning.object_version_headers(obj, requested=version_id)
    if link_headers:  # a followed symlink's Content-Location names its target already
        version_headers = [header for header in version_headers if header[0] != "Content-Location"]
    headers += version_headers
    verdict = objecthttp.evaluate_conditions(call.headers, obj.etag, math.ceil(obj.last_modified),
                                             objecthttp.SWIFT_CONDITIONS)
    if verdict is not None:
        return _condition_failed(verdict.status, headers)
    if part_number is not None:
        return large_objects.part_answer(call.storage, obj, part_number, headers, head=head)
    # Swift ignores Range on HEAD: the answer describes the whole object.
    range_header = None if head else call.headers.get("range")
    return body_answer(call.storage, obj, headers, range_header, head=head, dlo=resolve)


def body_answer(storage: ObjectStore, obj: ObjectInfo, headers: list[tuple[str, str]],
                range_header: str | None, *, head: bool, dlo: bool = False) -> Response:
    """200 with the whole object, 206 with one span or `multipart/byteranges` with several; 416 (with
    the object's headers, as Swift sends them) when no span is satisfiable. Swift's DLO serves one
    range (several get the whole object) and answers its 416 with no object headers."""
    rules = objecthttp.SWIFT_DLO_RANGES if dlo else objecthttp.SWIFT_RANGES
    spans = objecthttp.parse_range(range_header, obj.size, rules) if range_header else None
    if spans == []:
        kept = [("Accept-Ranges", "bytes")] if dlo else headers
        return Response(html_body(416), 416, [*kept, ("Content-Range", f"bytes */{obj.size}")],
                        content_type=HTML if dlo else None)
    if spans is None:
        headers.append(("content-length", str(obj.size)))
        return objecthttp.span_answer(storage, obj, (0, obj.size), 200, headers, head=head)
    if len(spans) == 1:
        headers += [("Content-Range", objecthttp.content_range(spans[0], obj.size)),
                    ("content-length", str(spans[0][1] - spans[0][0]))]
        return objecthttp.span_answer(storage, obj, spans[0], 206, headers, head=head)
    content_type = next((value for name, value in headers if name == "Content-Type"), "")
    headers = [(name, value) for name, value in headers if name != "Content-Type"]
    return objecthttp.multipart_answer(storage, obj, spans, headers, content_type, head=head)


async def _read(call: Call, version_id: str | None) -> ObjectInfo:
    """The current object, or the version `?version-id=` names (Swift's checks and answers)."""
    if version_id is not None:
        versioning.check_version_request(call, await call.storage.get_container(call.account, call.container),
                                         version_id)
    try:
        return await call.storage.get_object(call.account, call.container, call.obj, version_id)
    except StorageError as error:
        answer = await versioning.read_error(call, error, version_id)
        if answer is None:
            raise
        raise answer from None


def _condition_failed(status: int, headers: list[tuple[str, str]]) -> Response:
    """304 keeps every object header; 412 keeps the identifying ones, both with empty bodies."""
    if status == 304:
        return Response(b"", 304, headers)
    kept = [(name, value) for name, value in headers if name not in ("Content-Type", "Accept-Ranges")]
    return Response(b"", status, kept, content_type=HTML)


async def post_object(call: Call) -> Response:
    """Swift replaces all user metadata (and the expiry) on POST."""
    if versioning.requested_version(call) is not None:
        raise html_error(400, "POST to a specific version is not allowed")
    symlink.refuse_target_on_post(call)
    current = await call.storage.head_object(call.account, call.container, call.obj)
    attrs = request_attrs(call, {**large_objects.slo_system_meta(current), **symlink.system_meta(current)})
    changes: dict[str, object] = {"meta": attrs.meta, "headers": attrs.headers, "delete_at": attrs.delete_at,
                                  "touch": True}
    if "content-type" in call.headers:
        changes["content_type"] = attrs.content_type
    # X-Object-Manifest is object metadata to Swift: a POST with it makes (or repoints) a DLO, one
    # without it makes a DLO a plain object again.
    if current.manifest_type != "slo" and (attrs.manifest is not None or current.manifest_type == "dlo"):
        await _rewrite_manifest(call, current, attrs)
    else:
        await call.storage.update_object(call.account, call.container, call.obj, **changes)
    return symlink.post_answer(current) or Response(html_body(202), 202, content_type=HTML)


async def _rewrite_manifest(call: Call, current: ObjectInfo, attrs: ObjectAttrs) -> None:
    """The engine rewrites an object's manifest only by copying it onto itself (its data is shared)."""
    if "content-type" not in call.headers:
        attrs = dataclasses.replace(attrs, content_type=current.content_type)
    location = (call.account, call.container, call.obj)
    await call.storage.copy_object(*location, *location, attrs=attrs, source_etag=current.etag)


async def delete_object(call: Call) -> Response:
    if call.query.get("multipart-manifest") == "delete":
        return await large_objects.delete_slo(call)
    version_id = versioning.requested_version(call)
    answered = None if version_id is not None else await legacy_versioning.before_delete(call)
    return answered or await versioning.delete(call, version_id)


async def not_allowed(call: Call) -> Response:
    raise SwiftError(405, headers=[("Allow", ALLOWED_METHODS)])
