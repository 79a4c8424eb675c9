"""CopyObject and UploadPartCopy: `x-amz-copy-source`, its conditions, ranges and directives."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, unquote

from stackbox.digits import decimal
from stackbox.http import Response
from stackbox.s3 import authorize, sse, xml
from stackbox.s3.acl import requested_object_acl
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.get import check_conditions
from stackbox.s3.headers import check_key, checksum_element, object_attrs, tags_from_header
from stackbox.s3.multipart import current_upload, part_number
from stackbox.s3.object_lock import requested_lock
from stackbox.s3.operations import GET_OBJECT
from stackbox.s3.put import write_preconditions
from stackbox.s3.versioning import invalid_version, version_headers
from stackbox.storage.types import (
    DeleteMarkerVersion,
    InvalidVersionId,
    NoSuchContainer,
    NoSuchObject,
    NoSuchVersion,
    ObjectAttrs,
    ObjectInfo,
)

_SOURCE_CONDITIONS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
_DIRECTIVES = ("COPY", "REPLACE")
MAX_COPY_SOURCE = 5 << 30


async def copy_object(call: S3Call) -> Response:
    check_key(call.key)
    source = await _source(call)
    attrs = dataclasses.replace(await _copied_attrs(call, source), lock=await requested_lock(call),
                                encryption=await sse.requested_encryption(call))
    info = await call.storage.copy_encrypted(source, call.account, call.bucket, call.key, attrs=attrs,
                                             source_version=_source_version(call),
                                             source_key=sse.customer_key_of(call, sse.COPY_SOURCE_CUSTOMER),
                                             preconditions=write_preconditions(call))
    children = [xml.element("LastModified", xml.iso8601(info.last_modified)),
                xml.element("ETag", xml.etag_header(info.etag))]
    if info.checksum is not None:
        children.append(checksum_element(info.checksum))
    headers = _copy_headers(source, info) + sse.encryption_headers(call, info.sealing, written=True)
    return xml.xml_response("CopyObjectResult", children, headers=headers)


def _copy_headers(source: ObjectInfo, info: ObjectInfo) -> list[tuple[str, str]]:
    headers = version_headers(info)
    if source.version_id is not None:
        headers.append(("x-amz-copy-source-version-id", source.version_id))
    return headers


async def upload_part_copy(call: S3Call) -> Response:
    number = part_number(call.query)
    upload = await current_upload(call)
    upload_id = upload.upload_id
    source = await _source(call)
    start, stop = _source_range(call.headers.get("x-amz-copy-source-range"), source.size)
    if (source.size if stop is None else stop) - start > MAX_COPY_SOURCE:
        # A part copy reads and writes its bytes: S3's bound keeps one small request from costing gigabytes.
        raise S3Error("InvalidRequest", "The specified copy source is larger than the maximum allowable size "
                      f"for a copy source: {MAX_COPY_SOURCE}")
    part = await call.storage.upload_part_copy(
        call.account, call.bucket, upload_id, number, source, start, stop,
        source_key=sse.customer_key_of(call, sse.COPY_SOURCE_CUSTOMER),
        customer_key=sse.customer_key_of(call))
    children = [xml.element("LastModified", xml.iso8601(part.last_modified)),
                xml.element("ETag", xml.etag_header(part.etag))]
    return xml.xml_response("CopyPartResult", children, headers=sse.encryption_headers(call, upload.sealing))


async def _source(call: S3Call) -> ObjectInfo:
    """The copy source object, read with the caller's rights (those of a GetObject of it by the same
    caller), its conditions checked."""
    named, key = _parse_source(call.headers["x-amz-copy-source"])
    tenant, bucket = authorize.split_tenant(named)
    version_id = _source_version(call)
    try:
        decision = await authorize.decide(call, GET_OBJECT, bucket, key, version_id=version_id, tenant=tenant)
        source = await call.storage.head_object(decision.account, bucket, key, version_id)
    except NoSuchContainer:
        elsewhere = any(account != call.account for account in await call.storage.container_accounts(bucket))
        error = S3Error("AccessDenied") if elsewhere else S3Error("NoSuchBucket", BucketName=bucket)
        raise error from None
    except (NoSuchObject, NoSuchVersion) as missing:
        if decision.object_acl_decides or not await authorize.may_list(call, bucket, tenant):
            raise S3Error("AccessDenied") from None  # whether a key exists is the bucket's listers' to know
        if isinstance(missing, NoSuchObject):
            raise S3Error("NoSuchKey", Key=key) from None
        raise S3Error("NoSuchVersion", Key=key, VersionId=version_id or "") from None
    except InvalidVersionId:
        raise invalid_version(version_id or "") from None
    except DeleteMarkerVersion:
        raise S3Error("InvalidRequest", "The source of a copy request may not specifically refer to a delete "
                      "marker by version id.") from None
    if decision.object_acl_decides:
        authorize.check_object_acl(call, source.acl, GET_OBJECT,
                                   ignore_public=decision.ignore_public_acls)
    conditions = {name: call.headers[f"x-amz-copy-source-{name}"] for name in _SOURCE_CONDITIONS
                  if f"x-amz-copy-source-{name}" in call.headers}
    if check_conditions(conditions, source):
        # A copy source that "was not modified" is a failed precondition, not a 304.
        raise S3Error("PreconditionFailed", Condition="x-amz-copy-source-If-None-Match")
    return source


def _source_version(call: S3Call) -> str | None:
    """The `versionId` of `x-amz-copy-source: /bucket/key?versionId=...` (None: the current version)."""
    _, _, query = call.headers["x-amz-copy-source"].partition("?")
    found = [value for name, value in parse_qsl(query, keep_blank_values=True) if name == "versionId"]
    return found[0] if found else None


def _parse_source(header: str) -> tuple[str, str]:
    path = unquote(header.partition("?")[0]).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey", ArgumentName="x-amz-copy-source", ArgumentValue=header)
    return bucket, key


async def _copied_attrs(call: S3Call, source: ObjectInfo) -> ObjectAttrs:
    headers = call.headers
    metadata_directive = _directive(headers, "x-amz-metadata-directive")
    tagging_directive = _directive(headers, "x-amz-tagging-directive")
    # Copying an older version onto its key is how S3 users restore it: only the current one is "itself".
    same_object = ((source.account, source.container, source.key) == (call.account, call.bucket, call.key)
                   and _source_version(call) is None)
    acl = await requested_object_acl(call)
    if same_object and metadata_directive == "COPY" and acl is None \
            and tagging_directive == "COPY" and not sse.changes_encryption(headers):
        raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object "
                      "to itself without changing the object's metadata, storage class, website redirect "
                      "location or encryption attributes.")
    if metadata_directive == "REPLACE":
        attrs = object_attrs(headers)
    else:
        attrs = ObjectAttrs(source.content_type, source.meta, source.headers, source.tags, acl)
    tags = tags_from_header(headers.get("x-amz-tagging")) if tagging_directive == "REPLACE" else source.tags
    return dataclasses.replace(attrs, tags=tags, acl=acl)


def _directive(headers: dict[str, str], name: str) -> str:
    value = headers.get(name, "COPY").upper()
    if value not in _DIRECTIVES:
        raise S3Error("InvalidArgument", f"Unknown {name}", ArgumentName=name, ArgumentValue=value)
    return value


def _source_range(header: str | None, size: int) -> tuple[int, int | None]:
    if header is None:
        return 0, None
    first, dash, last = header.removeprefix("bytes=").partition("-")
    start, end = decimal(first), decimal(last)
    if not header.startswith("bytes=") or not dash or start is None or end is None or start > end:
        raise S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form "
                      "bytes=first-last where first and last are the zero-based offsets of the first and "
                      "last bytes to copy", ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    if end >= size:
        # S3 answers this with InvalidArgument (s3api silently clamps the range).
        raise S3Error("InvalidArgument", f"Range specified is not valid for source object of size: {size}",
                      ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    return start, end + 1
