"""What objects share between plain PUTs, copies and large objects: attributes from request
headers, the headers of a stored object, name checks."""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import re
from collections.abc import Mapping

from stackbox.http import Response
from stackbox.storage.types import ObjectAttrs, ObjectInfo
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, bad_request, html_error
from stackbox.swift.headers import (
    MAX_OBJECT_NAME_LENGTH,
    OBJECT_PASSTHROUGH,
    delete_at,
    http_date,
    meta_headers,
    meta_update,
    title,
    x_timestamp,
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def object_headers(obj: ObjectInfo, resolved_dlo: bool = False) -> list[tuple[str, str]]:
    """The headers of a GET/HEAD of `obj` in Swift's order (without Content-Length, which depends on
    the range)."""
    headers = [
        ("Content-Type", obj.content_type),
        *meta_headers(obj.meta, "object"),
        *((title(name), value) for name, value in obj.headers.items()),
    ]
    if obj.delete_at is not None:
        headers.append(("X-Delete-At", str(obj.delete_at)))
    large = obj.manifest_type == "slo" or bool(obj.parts)
    if large:
        headers.append(("X-Static-Large-Object", "True"))
    elif obj.manifest_type == "dlo" and obj.manifest is not None:
        headers.append(("X-Object-Manifest", obj.manifest.decode()))
    headers += [("Etag", display_etag(obj, resolved_dlo)), ("Last-Modified", http_date(obj.last_modified)),
                ("X-Timestamp", x_timestamp(obj.last_modified)), ("Accept-Ranges", "bytes")]
    if large:
        headers.append(("X-Manifest-Etag", manifest_etag(obj)))
    return headers


def display_etag(obj: ObjectInfo, resolved_dlo: bool = False) -> str:
    """Swift quotes the etags of large objects (they are not the MD5 of the data); a DLO manifest
    itself (written, or read with `multipart-manifest=get`) keeps its own plain etag."""
    large = obj.manifest_type == "slo" or bool(obj.parts) or (obj.manifest_type == "dlo" and resolved_dlo)
    return f'"{obj.etag}"' if large else obj.etag


def manifest_etag(obj: ObjectInfo) -> str:
    """`X-Manifest-Etag`: the MD5 of the stored manifest document (S3 multipart objects have none
    stored, so their part list stands in)."""
    document = obj.manifest or ",".join(part.etag for part in obj.parts).encode()
    return hashlib.md5(document, usedforsecurity=False).hexdigest()


#: A content-type parameter as Swift's container server parses it (RFC 2616 tokens or quoted strings).
_TOKEN = r'[^()<>@,;:\"/\[\]?={}\x00-\x20\x7f]+'
_PARAMETER = re.compile(r'(?:\s*;\s*(' + _TOKEN + r')\s*(?:=\s*(' + _TOKEN + r'|"(?:[^"\\]|\\.)*"))?)')


def listed_content_type(value: str) -> str:
    """An object's Content-Type as Swift's listings show it: the header's bytes read as UTF-8 (the
    HTTP layer reads them as latin-1), parameters re-joined without spaces (`text/plain;charset=x`)."""
    if value.isascii() and ";" not in value:
        return value
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode("utf-8")
    if ";" not in value:
        return value
    base, _, parameters = value.partition(";")
    return base + "".join(f";{key.strip()}={found.strip()}"
                          for key, found in _PARAMETER.findall(";" + parameters))


def check_object_name(name: str) -> None:
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_OBJECT_NAME_LENGTH:
        raise bad_request(f"Object name length of {size} longer than {MAX_OBJECT_NAME_LENGTH}")


def content_type(headers: Mapping[str, str], name: str) -> str:
    given = headers.get("content-type")
    if given and headers.get("x-detect-content-type", "").lower() != "true":
        return given
    return mimetypes.guess_type(name, strict=False)[0] or DEFAULT_CONTENT_TYPE


def request_attrs(call: Call, base_meta: Mapping[str, str] | None = None) -> ObjectAttrs:
    """The attributes a PUT/POST sets: content type, metadata, passthrough headers, expiry, DLO."""
    update = meta_update(call.headers, "object")
    meta = {**(base_meta or {}), **update.set}
    for name in update.remove:
        meta.pop(name, None)
    passthrough = {name: call.headers[name] for name in OBJECT_PASSTHROUGH if name in call.headers}
    manifest = call.headers.get("x-object-manifest")
    if manifest is not None:
        _check_dlo_manifest(manifest)
    return ObjectAttrs(
        content_type=content_type(call.headers, call.obj),
        meta=meta,
        headers=passthrough,
        delete_at=delete_at(call.headers),
        manifest_type="dlo" if manifest is not None else None,
        manifest=manifest.encode() if manifest is not None else None,
    )


def _check_dlo_manifest(value: str) -> None:
    """Swift's DLO check: `container/prefix`, both non-empty, no query characters."""
    container, _, prefix = value.partition("/")
    if not container or not prefix or "?" in value or "&" in value or prefix.startswith("/"):
        raise html_error(400, "X-Object-Manifest must be in the format container/prefix")


def created(info: ObjectInfo, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = [("Etag", display_etag(info)), ("Last-Modified", http_date(info.last_modified)), *(extra or [])]
    return Response(b"", 201, headers, HTML)


