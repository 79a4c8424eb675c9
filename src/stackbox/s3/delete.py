"""DeleteObject and DeleteObjects."""

from __future__ import annotations

import asyncio

from stackbox.http import Response
from stackbox.s3 import xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import MAX_KEY_BYTES
from stackbox.s3.object_lock import bypasses_governance
from stackbox.s3.versioning import deletion_headers, requested_version
from stackbox.storage.types import InvalidVersionId, ObjectLocked, Preconditions

MAX_DELETE_KEYS = 1000
DELETE_BATCH = 16


async def delete_object(call: S3Call) -> Response:
    if_match = call.headers.get("if-match")
    preconditions = Preconditions(if_match_etag=if_match.strip().strip('"') if if_match else None)
    # Deleting a key (or version) that does not exist succeeds, as in S3.
    deletion = await call.storage.delete(call.account, call.bucket, call.key,
                                         version_id=requested_version(call), preconditions=preconditions,
                                         bypass_governance=bypasses_governance(call))
    return Response(b"", 204, deletion_headers(deletion))


async def delete_objects(call: S3Call) -> Response:
    root = await call.read_document("Delete")
    quiet = (xml.child_text(root, "Quiet", "false") or "").strip().lower() == "true"
    keys = [(xml.required_text(node, "Key"), xml.child_text(node, "VersionId", None))
            for node in root.findall("Object")]
    if not keys or len(keys) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML")
    call.storage.get_container(call.account, call.bucket)
    results: list[str] = []
    bypass = bypasses_governance(call)
    # Group-committed batches that yield to the loop: a thousand deletes in one go would stall the worker.
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start:start + DELETE_BATCH]
        results += await asyncio.gather(*(_delete_one(call, key, version_id, quiet, bypass)
                                          for key, version_id in batch))
    return xml.xml_response("DeleteResult", results)


async def _delete_one(call: S3Call, key: str, version_id: str | None, quiet: bool, bypass: bool) -> str:
    named = xml.element("Key", key) + xml.optional("VersionId", version_id)
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return ("<Error>" + named + xml.element("Code", "KeyTooLongError")
                + xml.element("Message", "Your key is too long") + "</Error>")
    try:
        deletion = await call.storage.delete(call.account, call.bucket, key, version_id=version_id,
                                             bypass_governance=bypass)
    except InvalidVersionId:
        return ("<Error>" + named + xml.element("Code", "NoSuchVersion")
                + xml.element("Message", "The specified version does not exist.") + "</Error>")
    except ObjectLocked:
        return ("<Error>" + named + xml.element("Code", "AccessDenied")
                + xml.element("Message", "Access Denied because object protected by object lock.")
                + "</Error>")
    if quiet:
        return ""
    if not deletion.delete_marker:
        return f"<Deleted>{named}</Deleted>"
    marker = xml.element("DeleteMarker", True) + xml.optional("DeleteMarkerVersionId", deletion.version_id)
    return f"<Deleted>{named}{marker}</Deleted>"
