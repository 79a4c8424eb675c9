"""DeleteObject and DeleteObjects."""

from __future__ import annotations

import asyncio
from datetime import datetime
from xml.etree.ElementTree import Element

from stackbox.digits import decimal
from stackbox.http import Response
from stackbox.s3 import authorize, xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import MAX_KEY_BYTES
from stackbox.s3.object_lock import bypasses_governance
from stackbox.s3.operations import DELETE_OBJECT
from stackbox.s3.signature.canonical import parse_http_date
from stackbox.s3.signature.checksums import checksum_from_headers
from stackbox.s3.versioning import deletion_headers, requested_version
from stackbox.storage.types import (
    NO_PRECONDITIONS,
    InvalidVersionId,
    NoSuchObject,
    ObjectLocked,
    PreconditionFailed,
    Preconditions,
)

MAX_DELETE_KEYS = 1000
DELETE_BATCH = 16


#: The conditions of a conditional DeleteObject: request header -> its name in S3's errors.
_CONDITION_HEADERS = {"if-match": "If-Match", "x-amz-if-match-size": "x-amz-if-match-size",
                      "x-amz-if-match-last-modified-time": "x-amz-if-match-last-modified-time"}


async def delete_object(call: S3Call) -> Response:
    headers = call.headers
    preconditions = delete_preconditions(headers.get("if-match"), headers.get("x-amz-if-match-size"),
                                         headers.get("x-amz-if-match-last-modified-time"), header_names=True)
    version_id = requested_version(call)
    if version_id is not None and preconditions.any:
        # S3 applies delete conditions to the current object only, and refuses them with a version.
        raise S3Error("NotImplemented", "A header you provided implies functionality that is not implemented",
                      Header=next(name for header, name in _CONDITION_HEADERS.items() if header in headers))
    # Deleting a key (or version) that does not exist succeeds, as in S3 (unless If-Match names it).
    deletion = await call.storage.delete(call.account, call.bucket, call.key, version_id=version_id,
                                         preconditions=preconditions,
                                         bypass_governance=await bypasses_governance(call))
    return Response(b"", 204, deletion_headers(deletion))


def delete_preconditions(etag: str | None, size: str | None, modified: str | None, *,
                         header_names: bool) -> Preconditions:
    """The conditions of one delete (DeleteObject's headers, or a DeleteObjects entry's elements)."""
    if etag is None and size is None and modified is None:
        return NO_PRECONDITIONS
    size_value = decimal(size.strip()) if size is not None else None
    if size is not None and size_value is None:
        name = "x-amz-if-match-size" if header_names else "Size"
        raise S3Error("InvalidArgument", "Invalid size", ArgumentName=name, ArgumentValue=size)
    modified_value = _timestamp(modified) if modified is not None else None
    if modified is not None and modified_value is None:
        name = "x-amz-if-match-last-modified-time" if header_names else "LastModifiedTime"
        raise S3Error("InvalidArgument", "Invalid last modified time", ArgumentName=name,
                      ArgumentValue=modified)
    return Preconditions(if_match_etag=etag.strip().strip('"') if etag is not None else None,
                         if_match_size=size_value, if_match_modified=modified_value)


def _timestamp(text: str) -> int | None:
    """Whole epoch seconds of an HTTP date (how SDKs send the header) or an ISO 8601 one (the XML's)."""
    epoch = parse_http_date(text)
    if epoch is None:
        try:
            epoch = datetime.fromisoformat(text.strip()).timestamp()
        except ValueError:
            return None
    return int(epoch)


async def delete_objects(call: S3Call) -> Response:
    headers = call.headers
    proven = any(name in headers for name in ("content-md5", "x-amz-trailer")) \
        or checksum_from_headers(headers) is not None
    if not proven:
        # S3 requires the document's integrity to be provable (every SDK sends one of them).
        raise S3Error("InvalidRequest", "Missing required header for this request: Content-MD5 OR "
                      "x-amz-checksum-*")
    root = await call.read_document("Delete")
    quiet = (xml.child_text(root, "Quiet", "false") or "").strip().lower() == "true"
    nodes = root.findall("Object")
    if not nodes or len(nodes) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML")
    keys = [_entry(node) for node in nodes]
    await call.storage.get_container(call.account, call.bucket)
    results: list[str] = []
    bypass = await bypasses_governance(call)
    # Group-committed batches that yield to the loop: a thousand deletes in one go would stall the worker.
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start:start + DELETE_BATCH]
        results += await asyncio.gather(*(_delete_one(call, key, version_id, conditions, quiet, bypass)
                                          for key, version_id, conditions in batch))
    return xml.xml_response("DeleteResult", results)


def _entry(node: Element) -> tuple[str, str | None, Preconditions]:
    """(key, version id, conditions) of one `<Object>` of a DeleteObjects document."""
    conditions = delete_preconditions(xml.child_text(node, "ETag", None), xml.child_text(node, "Size", None),
                                      xml.child_text(node, "LastModifiedTime", None), header_names=False)
    return xml.required_text(node, "Key"), xml.child_text(node, "VersionId", None), conditions


def _failed(named: str, code: str, message: str) -> str:
    return "<Error>" + named + xml.element("Code", code) + xml.element("Message", message) + "</Error>"


async def _delete_one(call: S3Call, key: str, version_id: str | None, conditions: Preconditions, quiet: bool,
                      bypass: bool) -> str:
    named = xml.element("Key", key) + xml.optional("VersionId", version_id)
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return _failed(named, "KeyTooLongError", "Your key is too long")
    try:
        await authorize.decide(call, DELETE_OBJECT, call.bucket, key, version_id=version_id)
    except S3Error as refused:
        return _failed(named, refused.code, refused.message)
    if version_id is not None and conditions.any:
        return _failed(named, "NotImplemented", "A header you provided implies functionality that is not "
                       "implemented")
    try:
        deletion = await call.storage.delete(call.account, call.bucket, key, version_id=version_id,
                                             preconditions=conditions, bypass_governance=bypass)
    except InvalidVersionId:
        return _failed(named, "NoSuchVersion", "The specified version does not exist.")
    except ObjectLocked:
        return _failed(named, "AccessDenied", "Access Denied because object protected by object lock.")
    except PreconditionFailed:
        return _failed(named, "PreconditionFailed",
                       "At least one of the pre-conditions you specified did not hold")
    except NoSuchObject:
        return _failed(named, "NoSuchKey", "The specified key does not exist.")
    if quiet:
        return ""
    if not deletion.delete_marker:
        return f"<Deleted>{named}</Deleted>"
    marker = xml.element("DeleteMarker", True) + xml.optional("DeleteMarkerVersionId", deletion.version_id)
    return f"<Deleted>{named}{marker}</Deleted>"
