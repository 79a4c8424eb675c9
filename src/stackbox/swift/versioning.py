"""Swift object versioning (`versioned_writes/object_versioning.py`) over the engine's versions.

One state with S3: `X-Versions-Enabled: true` is the engine's "enabled", `false` its "suspended",
so a bucket versioned through S3 shows `X-Versions-Enabled: True` and its versions here. Version ids
are the engine's (32 hex digits, or "null"), opaque to clients as Swift's timestamps are.

As in Swift, where old versions live in a hidden container that carries no ACL, a request naming a
version (other than "null") is the account owner's: a reader or writer through an ACL is refused.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import quote

from stackbox.http import Response
from stackbox.storage import types as st
from stackbox.storage.types import ContainerInfo, Deletion, ObjectInfo, VersionEntry, VersionListing
from stackbox.storage.versions import check_version_id
from stackbox.swift import legacy_versioning
from stackbox.swift.acl import denied
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError, html_body, html_error
from stackbox.swift.headers import is_true
from stackbox.swift.listing import DELETE_MARKER_CONTENT_TYPE, ListingQuery
from stackbox.swift.object_meta import created

ENABLED_HEADER = "x-versions-enabled"
_VERSION_ID_CHARS = frozenset("0123456789.")
# Swift's own version ids (timestamps): well formed, so one we never issued is a missing version.
_SWIFT_VERSION_ID = re.compile(r"\d{10}\.\d{5}(?:_[0-9a-f]{16})?")


# ------------------------------------------------------------------------------ containers

def container_headers(info: ContainerInfo) -> list[tuple[str, str]]:
    """`X-Versions-Enabled` once versioning was ever set (through Swift or S3), as Swift shows it,
    then a legacy mode's location."""
    legacy = legacy_versioning.container_headers(info)
    if info.versioning == "unversioned":
        return legacy
    return [("X-Versions-Enabled", "True" if info.versioning == "enabled" else "False"), *legacy]


def check_versioning_request(call: Call, current: ContainerInfo | None) -> None:
    """Swift refuses new-style versioning on a container that uses the legacy modes (400)."""
    if ENABLED_HEADER not in call.headers:
        return
    legacy_asked = any(call.headers.get(name) for name in ("x-versions-location", "x-history-location"))
    if legacy_asked or (current is not None and current.meta.get(legacy_versioning.LOCATION)):
        raise html_error(400, "Cannot enable object versioning on a container that is already using the "
                              "legacy versioned writes feature.")


async def apply_versioning_request(call: Call) -> None:
    """`X-Versions-Enabled: true` enables versioning, anything else suspends it (Swift's
    `config_true_value`); a container that never had versioning then shows `False`, as s3api shows
    such a bucket as Suspended."""
    raw = call.headers.get(ENABLED_HEADER)
    if raw is None:
        return
    state: st.Versioning = "enabled" if is_true(raw) else "suspended"
    await call.storage.set_versioning(call.account, call.container, state)


def container_not_empty(info: ContainerInfo) -> SwiftError:
    if info.versioning == "unversioned":
        return SwiftError(409)
    return html_error(409, "Delete all versions before deleting container.")


# ------------------------------------------------------------------------------ listings

def check_listing_query(call: Call, query: ListingQuery) -> None:
    version_marker = call.query.get("version_marker")
    if version_marker is not None and not query.marker:
        raise html_error(400, "version_marker param requires marker")
    if _VERSION_ID_CHARS.intersection(query.delimiter):
        raise html_error(400, "invalid delimiter param")


async def list_versions(call: Call, query: ListingQuery) -> VersionListing:
    """One page of versions: `marker` alone skips all of that object's versions, `version_marker`
    resumes after that version of it (as swiftclient pages with the last item's version_id).
    `reverse` lists the exact reverse order, where `marker` alone starts with that object's own
    versions; `end_marker` only changes `is_latest` (see `_swift_latest`)."""
    check_listing_query(call, query)
    try:
        listing = await call.storage.list_object_versions(
            call.account, call.container, prefix=query.prefix, delimiter=query.delimiter,
            key_marker=query.marker, version_id_marker=call.query.get("version_marker", ""),
            limit=query.limit, reverse=query.reverse)
    except st.InvalidVersionId:
        raise html_error(400, "invalid version_marker param") from None
    return dataclasses.replace(listing, versions=_swift_latest(listing.versions, query))


def _swift_latest(versions: list[VersionEntry], query: ListingQuery) -> list[VersionEntry]:
    """`is_latest` as Swift 2.38 derives it: a current object only when the plain listing with the
    same marker, end_marker and direction would show it (Swift does not bound the versions by
    end_marker, only that listing), and the first delete marker of an object that had no latest
    entry before it in listing order (so, reversed, an older marker too)."""
    seen: set[str] = set()
    result = []
    for entry in versions:
        if entry.delete_marker:
            latest = entry.key not in seen
        elif entry.version_id == st.NULL_VERSION:
            latest = entry.latest
        else:
            latest = entry.latest and _in_plain_listing(entry.key, query)
        if latest:
            seen.add(entry.key)
        result.append(entry if latest == entry.latest else dataclasses.replace(entry, latest=latest))
    return result


def _in_plain_listing(key: str, query: ListingQuery) -> bool:
    low, high = (query.end_marker, query.marker) if query.reverse else (query.marker, query.end_marker)
    return (not low or key > low) and (not high or key < high)


# ------------------------------------------------------------------------------ objects

def requested_version(call: Call) -> str | None:
    """`?version-id=` (an empty value is no version, as in Swift)."""
    return call.query.get("version-id") or None


def check_version_request(call: Call, info: ContainerInfo, version_id: str) -> None:
    """Swift's checks of a `?version-id=` request, in its order, then the owner-only rule."""
    if call.method == "POST":
        raise html_error(400, "POST to a specific version is not allowed")
    if info.versioning == "unversioned" and version_id != st.NULL_VERSION:
        raise html_error(400, "version-aware operations require that the container is versioned")
    try:
        check_version_id(version_id)
    except st.InvalidVersionId:
        if _SWIFT_VERSION_ID.fullmatch(version_id):
            raise SwiftError(404) from None
        raise html_error(400, "Invalid version parameter") from None
    if version_id != st.NULL_VERSION and not call.owner:
        raise denied(call)


def object_version_headers(info: ObjectInfo, *, requested: str | None) -> list[tuple[str, str]]:
    """`X-Object-Version-Id` in a container that has had versioning (or when the null version was
    asked for, as Swift answers in any container); a current version that is not the null one also
    names itself in `Content-Location`, as Swift's versioning symlink does."""
    current = requested is None
    if info.version_id is None:
        return [("X-Object-Version-Id", st.NULL_VERSION)] if requested == st.NULL_VERSION else []
    headers = [("X-Object-Version-Id", info.version_id)]
    if current and info.version_id != st.NULL_VERSION:
        path = quote(f"/v1/{info.account}/{info.container}/{info.key}")
        headers.append(("Content-Location", f"{path}?version-id={info.version_id}"))
    return headers


def put_headers(info: ObjectInfo) -> list[tuple[str, str]]:
    """A PUT names its version only while versioning is enabled (Swift adds nothing otherwise)."""
    if info.version_id is None or info.version_id == st.NULL_VERSION:
        return []
    return [("X-Object-Version-Id", info.version_id)]


async def read_error(call: Call, error: st.StorageError, version_id: str | None) -> SwiftError | None:
    """Swift's answer to a failed versioned GET/HEAD (None: not a versioning failure)."""
    if isinstance(error, st.DeleteMarkerVersion):
        return SwiftError(404, html_body(404).decode(), [("X-Object-Version-Id", error.version_id)],
                          content_type=DELETE_MARKER_CONTENT_TYPE)
    if isinstance(error, st.NoSuchVersion):
        return SwiftError(404)
    if isinstance(error, st.NoSuchObject) and version_id is None:
        info = await call.storage.get_container(call.account, call.container)
        if info.versioning != "unversioned":
            return SwiftError(404, headers=[("X-Object-Version-Id", st.NULL_VERSION)])
    return None


async def delete(call: Call, version_id: str | None) -> Response:
    """Without a version id, while versioning is enabled a delete marker is written, also when
    there was no object, and named in the answer (204, or 404 when nothing was current, as Swift
    answers after writing its marker). With one, that version goes; the answer names it and the
    version now current ("null": none, or the null one)."""
    if version_id is None:
        deletion = await call.storage.delete(call.account, call.container, call.obj)
        return _deleted(deletion.existed, _marker_headers(deletion))
    check_version_request(call, await call.storage.get_container(call.account, call.container), version_id)
    deletion = await call.storage.delete(call.account, call.container, call.obj, version_id=version_id)
    if version_id == st.NULL_VERSION:
        return _deleted(deletion.existed, [])
    current = await _current_version(call)
    headers = [("X-Object-Version-Id", version_id), ("X-Object-Current-Version-Id", current)]
    return _deleted(deletion.existed, headers)


async def restore(call: Call, version_id: str) -> Response:
    """`PUT ?version-id=` with an empty body makes that version current again: here as a new
    version sharing its data (the engine has no pointer to move, unlike Swift's symlink)."""
    check_version_request(call, await call.storage.get_container(call.account, call.container), version_id)
    length = call.headers.get("content-length")
    if length is None and "chunked" not in call.headers.get("transfer-encoding", "").lower():
        raise SwiftError(411, "Missing Content-Length header.")
    if length != "0" and (length is not None or await _has_body(call)):
        raise SwiftError(400, "PUT version-id requests require a zero byte body")
    location = (call.account, call.container, call.obj)
    info = await call.storage.copy_object(*location, *location, source_version=version_id)
    return created(info, [("X-Object-Version-Id", info.version_id or st.NULL_VERSION)])


async def _has_body(call: Call) -> bool:
    async for chunk in call.request.stream():
        if chunk:
            return True
    return False


def _marker_headers(deletion: Deletion) -> list[tuple[str, str]]:
    """The marker's id while versioning is enabled (a suspended container's is the null version,
    which Swift does not name)."""
    if not deletion.delete_marker or deletion.version_id in (None, st.NULL_VERSION):
        return []
    return [("X-Object-Version-Id", str(deletion.version_id))]


async def _current_version(call: Call) -> str:
    try:
        current = await call.storage.head_object(call.account, call.container, call.obj)
    except st.NoSuchObject:
        return st.NULL_VERSION
    return current.version_id or st.NULL_VERSION


def _deleted(existed: bool, headers: list[tuple[str, str]]) -> Response:
    if not existed:
        raise SwiftError(404, headers=headers)
    return Response(b"", 204, headers, content_type=HTML)
