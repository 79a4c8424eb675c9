"""Server-side copies: the COPY method (`Destination`) and PUT with `X-Copy-From`.

A copy shares the source's data (no bytes are copied) unless the source is a large object, which
Swift copies as one plain object holding the concatenated data (so its etag is recomputed).
"""

from __future__ import annotations

from urllib.parse import quote

from stackbox import objecthttp
from stackbox.http import Response, clean_unquote
from stackbox.storage import types as st
from stackbox.storage.types import ObjectAttrs, ObjectInfo, WriteChecks
from stackbox.swift import symlink, versioning
from stackbox.swift.acl import denied, may_read, may_write
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError, bad_request, html_body, html_error
from stackbox.swift.headers import check_meta_totals, http_date, is_true, meta_headers, x_timestamp
from stackbox.swift.large_objects import authorize_segments, resolve_dlo, slo_system_meta
from stackbox.swift.object_meta import check_object_name, created, request_attrs

Location = tuple[str, str, str]  # account, container, object


def _parse_location(value: str, account: str, header: str) -> Location:
    name = clean_unquote(value)
    if name is None:
        raise SwiftError(412, "Invalid UTF8 or contains NULL")
    container, slash, obj = name.lstrip("/").partition("/")
    if not container or not slash or not obj:
        raise html_error(412, f"{header} header must be of the form <container name>/<object name>")
    return account, container, obj


async def copy_method(call: Call) -> Response:
    destination = call.headers.get("destination")
    if destination is None:
        raise html_error(412, "Destination header required")
    dst_account = call.headers.get("destination-account", call.account)
    target = _parse_location(destination, dst_account, "Destination")
    return await _copy(call, (call.account, call.container, call.obj), target)


async def copy_from(call: Call) -> Response:
    if call.headers.get("content-length", "0") != "0":
        raise bad_request("Copy requests require a zero byte body")
    src_account = call.headers.get("x-copy-from-account", call.account)
    source = _parse_location(call.headers["x-copy-from"], src_account, "X-Copy-From")
    return await _copy(call, source, (call.account, call.container, call.obj))


async def _copy(call: Call, source: Location, target: Location) -> Response:
    """Swift's copy is a GET of the source and a PUT of the target, each authorised as the caller
    (so are a large source's segments: an SLO's even when only its manifest is copied, since the
    copy shares the data it was flattened into)."""
    check_object_name(target[2])
    if not (await may_read(call, *source[:2]) and await may_write(call, *target[:2])):
        raise denied(call)
    source_version = await _source_version(call, source)
    src = await symlink.copy_source(call, await _head_source(call, source, source_version))
    keep_manifest = call.query.get("multipart-manifest") == "get"
    if src.manifest_type == "slo" or not keep_manifest:
        await authorize_segments(call, src)
    call.storage.check_encryption_key(src, None)  # a copy is a read: SSE-C data is S3's, with its key
    attrs = _copy_attrs(call, src, keep_manifest)
    if src.manifest_type == "dlo" and not keep_manifest:
        src = await resolve_dlo(call.storage, src)
    span = None if keep_manifest else _copied_span(call, src)
    if span is not None or ((src.manifest_type or src.parts) and not keep_manifest):
        info = await _copy_data(call, src, target, attrs, span or (0, src.size))
    else:
        same_source = _location(src) == source
        info = await call.storage.copy_object(src.account, src.container, src.key, *target, attrs=attrs,
                                              source_etag=src.etag,
                                              source_version=source_version if same_source else None)
    copied_from = quote(f"{source[1]}/{source[2]}")
    return created(info, [("X-Copied-From", copied_from), ("X-Copied-From-Account", quote(source[0])),
                          ("X-Copied-From-Last-Modified", http_date(src.last_modified)),
                          *meta_headers(info.meta, "object"), *versioning.put_headers(info)])


async def _head_source(call: Call, source: Location, version_id: str | None) -> ObjectInfo:
    try:
        return await call.storage.head_object(*source, version_id=version_id)
    except (st.NoSuchVersion, st.DeleteMarkerVersion):
        raise SwiftError(404) from None


def _location(obj: ObjectInfo) -> Location:
    return obj.account, obj.container, obj.key


async def _source_version(call: Call, source: Location) -> str | None:
    """`?version-id=` on a copy names the source's version, as Swift's object versioning reads it."""
    version_id = versioning.requested_version(call)
    if version_id is not None and source[0] != call.account:
        raise denied(call)  # versions are their account owner's alone
    if version_id is not None:
        versioning.check_version_request(call, await call.storage.get_container(*source[:2]), version_id)
    return version_id


def _copy_attrs(call: Call, src: ObjectInfo, keep_manifest: bool) -> ObjectAttrs:
    """The source's attributes with the request's metadata layered on (or instead, when fresh);
    only a copied manifest keeps the source's SLO system metadata."""
    fresh = is_true(call.headers.get("x-fresh-metadata"))
    system = slo_system_meta(src)
    kept = symlink.system_meta(src) if fresh else {name: value for name, value in src.meta.items()
                                                   if name not in system}
    requested = request_attrs(call, {**kept, **system} if keep_manifest else kept)
    check_meta_totals(requested.meta)
    content_type = call.headers.get("content-type") or src.content_type
    return ObjectAttrs(content_type=content_type, meta=requested.meta,
                       headers={**({} if fresh else src.headers), **requested.headers},
                       delete_at=requested.delete_at,
                       manifest_type=src.manifest_type, manifest=src.manifest)


def _copied_span(call: Call, src: ObjectInfo) -> objecthttp.Span | None:
    """The part of the source a `Range` header selects (Swift's copy is a GET of the source, so it
    copies that range); None for the whole object. 416 when nothing is satisfiable; several ranges
    are refused (Swift would store the `multipart/byteranges` body, which then fails to read)."""
    spans = objecthttp.parse_range(call.headers.get("range"), src.size, objecthttp.SWIFT_RANGES)
    if spans is None:
        return None
    if not spans:
        raise SwiftError(416, html_body(416).decode(), content_type=src.content_type, headers=[
            ("Etag", src.etag), ("Last-Modified", http_date(src.last_modified)),
            ("X-Timestamp", x_timestamp(src.last_modified)), ("Accept-Ranges", "bytes"),
            ("Content-Range", f"bytes */{src.size}")])
    if len(spans) > 1:
        raise bad_request("A copy takes one range")
    return spans[0]


async def _copy_data(call: Call, src: ObjectInfo, target: Location, attrs: ObjectAttrs,
                     span: objecthttp.Span) -> ObjectInfo:
    """A copy of the data itself (a large object's, or a range): one plain object."""
    flat = ObjectAttrs(attrs.content_type, attrs.meta, attrs.headers, delete_at=attrs.delete_at)
    start, end = span
    return await call.storage.put_object(*target, call.storage.read(src, start, end), attrs=flat,
                                         checks=WriteChecks(length=end - start))
