"""S3 versioning: Get/PutBucketVersioning, ListObjectVersions, and the version headers and errors
the object operations share (`x-amz-version-id`, `x-amz-delete-marker`, NoSuchVersion, ...).

The engine keeps the versions (`stackbox.storage.versions`); an object read by version id is
authorized as any read of that bucket's objects (the version's own ACL, as for GetObjectVersion).
"""

from __future__ import annotations

from collections.abc import Callable

from stackbox.http import Response
from stackbox.s3 import xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.list import asked_url_encoding, common_prefix, listing_encoder, max_keys, owner, page_flags
from stackbox.storage import types as storage
from stackbox.storage.types import Deletion, ObjectInfo, VersionEntry

_STATES: dict[str, storage.Versioning] = {"Enabled": "enabled", "Suspended": "suspended"}
_STATUS = {"enabled": "Enabled", "suspended": "Suspended"}


async def get_bucket_versioning(call: S3Call) -> Response:
    state = (await call.storage.get_container(call.account, call.bucket)).versioning
    status = _STATUS.get(state)
    return xml.xml_response("VersioningConfiguration", [xml.element("Status", status)] if status else [])


async def put_bucket_versioning(call: S3Call) -> Response:
    root = await call.read_document("VersioningConfiguration")
    status = xml.child_text(root, "Status", None)
    mfa_delete = xml.child_text(root, "MfaDelete", None)
    if status is None and mfa_delete is None:
        raise S3Error("IllegalVersioningConfigurationException", "The Versioning element must be specified")
    if (status is not None and status not in _STATES) or mfa_delete not in (None, "Disabled", "Enabled"):
        raise S3Error("MalformedXML")
    if mfa_delete == "Enabled":
        raise S3Error("NotImplemented", "MFA delete is not implemented.")
    if status is not None:
        await call.storage.set_versioning(call.account, call.bucket, _STATES[status])
    else:
        await call.storage.get_container(call.account, call.bucket)
    return Response(b"", 200)


def requested_version(call: S3Call) -> str | None:
    """The `versionId` query parameter (the engine refuses one no version can have: InvalidVersionId)."""
    return call.query.get("versionId")


def invalid_version(version_id: str) -> S3Error:
    return S3Error("InvalidArgument", "Invalid version id specified", ArgumentName="versionId",
                   ArgumentValue=version_id)


def version_headers(info: ObjectInfo) -> list[tuple[str, str]]:
    """`x-amz-version-id` of an object in a bucket that has had versioning (none otherwise, as S3)."""
    return [] if info.version_id is None else [("x-amz-version-id", info.version_id)]


def deletion_headers(deletion: Deletion) -> list[tuple[str, str]]:
    headers = [] if deletion.version_id is None else [("x-amz-version-id", deletion.version_id)]
    if deletion.delete_marker:
        headers.append(("x-amz-delete-marker", "true"))
    return headers


def storage_error(error: BaseException, call: S3Call) -> S3Error | None:
    """The S3 error of a versioning failure of the engine (None: not one)."""
    version_id = call.query.get("versionId", "")
    if isinstance(error, storage.NoSuchObject) and error.delete_marker:
        headers = [("x-amz-delete-marker", "true")]
        headers += [("x-amz-version-id", error.version_id)] if error.version_id else []
        return S3Error("NoSuchKey", headers=headers, Key=call.key)
    if isinstance(error, storage.NoSuchVersion):
        return S3Error("NoSuchVersion", Key=call.key, VersionId=version_id)
    if isinstance(error, storage.InvalidVersionId):
        return invalid_version(version_id or call.query.get("version-id-marker", ""))
    if isinstance(error, storage.DeleteMarkerVersion):
        headers = [("x-amz-delete-marker", "true"), ("x-amz-version-id", error.version_id),
                   ("allow", "DELETE")]
        return S3Error("MethodNotAllowed", headers=headers, Method=call.request.method,
                       ResourceType="DeleteMarker")
    return None


async def list_object_versions(call: S3Call) -> Response:
    query = call.query
    url_asked = asked_url_encoding(query)
    asked, limit = max_keys(query)
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    key_marker, version_marker = query.get("key-marker", ""), query.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise S3Error("InvalidArgument", "A version-id marker cannot be specified without a key marker.",
                      ArgumentName="version-id-marker", ArgumentValue=version_marker)
    listing = await call.storage.list_object_versions(call.account, call.bucket, prefix=prefix,
                                                      delimiter=delimiter, key_marker=key_marker,
                                                      version_id_marker=version_marker, limit=limit)
    echoed = (prefix, delimiter, key_marker, listing.next_key_marker or "")
    encode = listing_encoder(url_asked, echoed, (entry.key for entry in listing.versions), listing.prefixes)
    children = [xml.element("Name", call.bucket), xml.element("Prefix", encode(prefix)),
                xml.element("KeyMarker", encode(key_marker)), xml.element("VersionIdMarker", version_marker)]
    if listing.truncated:
        children += [xml.element("NextKeyMarker", encode(listing.next_key_marker or "")),
                     xml.element("NextVersionIdMarker", listing.next_version_id_marker or "")]
    children += page_flags(asked, delimiter, encode, listing.truncated)
    owner_element = owner(call)
    children += [_version(entry, encode, owner_element) for entry in listing.versions]
    children += [common_prefix(rolled, encode) for rolled in listing.prefixes]
    return xml.xml_response("ListVersionsResult", children)


def _version(entry: VersionEntry, encode: Callable[[str], str], owner_element: str) -> str:
    common = (xml.element("Key", encode(entry.key)) + xml.element("VersionId", entry.version_id)
              + xml.element("IsLatest", entry.latest)
              + xml.element("LastModified", xml.iso8601(entry.last_modified)))
    if entry.delete_marker:
        return f"<DeleteMarker>{common}{owner_element}</DeleteMarker>"
    return (f"<Version>{common}" + xml.element("ETag", xml.etag_header(entry.etag))
            + xml.element("Size", entry.size) + "<StorageClass>STANDARD</StorageClass>"
            + f"{owner_element}</Version>")

