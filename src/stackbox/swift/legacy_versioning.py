"""Swift's legacy versioned writes (`versioned_writes/legacy.py`): `X-Versions-Location` (stack
mode) and `X-History-Location` (history mode) name an archive container of the same account.

A PUT over an object first copies it to `<archive>/<len(name) in 3 hex digits><name>/<timestamp>`.
A DELETE in history mode archives the object and a zero-byte delete marker, then deletes it; in
stack mode it puts the newest archived copy back in its place instead. Copies share the data (the
engine copies no bytes), and the archive is reached as Swift's middleware reaches it: once the
request may write the versioned container, whose owner chose the archive in the same account.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from urllib.parse import unquote

from stackbox.http import Response
from stackbox.storage import types as st
from stackbox.storage.types import ContainerInfo, ObjectAttrs
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError, html_error
from stackbox.swift.listing import DELETE_MARKER_CONTENT_TYPE

LOCATION = "sys:versions-location"
MODE = "sys:versions-mode"
_VERSIONS = "x-versions-location"
_HISTORY = "x-history-location"
_REMOVE = ("x-remove-versions-location", "x-remove-history-location")


# ------------------------------------------------------------------------------ containers

def meta_changes(headers: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The container metadata a PUT/POST sets and removes for the legacy headers (Swift's
    `container_request`: one mode at a time; an empty location or an X-Remove-* header removes)."""
    versions, history = headers.get(_VERSIONS), headers.get(_HISTORY)
    if versions is not None and history is not None:
        if versions and history:
            raise SwiftError(400, "Only one of X-Versions-Location or X-History-Location may be specified")
        if not history:
            history = None
        else:
            versions = None
    chosen = versions if versions is not None else history
    if chosen:
        return {LOCATION: _checked_location(chosen), MODE: "stack" if versions else "history"}, []
    if chosen == "" or any(headers.get(name) for name in _REMOVE):
        return {}, [LOCATION, MODE]
    return {}, []


def _checked_location(value: str) -> str:
    if "/" in unquote(value):
        raise html_error(412, "Container name cannot contain slashes")
    return value


def container_headers(info: ContainerInfo) -> list[tuple[str, str]]:
    location = info.meta.get(LOCATION)
    if not location:
        return []
    header = "X-History-Location" if info.meta.get(MODE) == "history" else "X-Versions-Location"
    return [(header, location)]


# ------------------------------------------------------------------------------ objects

async def before_put(call: Call) -> None:
    """A PUT (of data, a copy, a manifest or a link) over an object first archives it."""
    legacy = await archive_of(call)
    if legacy is not None:
        await archive_current(call, legacy[0])


async def archive_of(call: Call) -> tuple[str, str] | None:
    """(archive container, mode) of the request's container, None when it has no legacy mode
    (or does not exist: the request itself answers that)."""
    try:
        meta = await call.storage.container_meta(call.account, call.container)
    except st.NoSuchContainer:
        return None
    location = meta.get(LOCATION)
    if not location:
        return None
    return unquote(location).split("/")[0], meta.get(MODE, "stack")


async def archive_current(call: Call, archive: str) -> None:
    """Copy the current object (a link itself, not its target) to the archive, named by its
    timestamp; nothing when there is none. A missing archive container is Swift's 412."""
    try:
        current = await call.storage.head_object(call.account, call.container, call.obj)
    except st.NoSuchObject:
        return
    await _store(call, archive, _archived_name(call.obj, current.last_modified), current.etag)


async def before_delete(call: Call) -> Response | None:
    """A DELETE in a container with a legacy mode: history archives the object and a marker (then
    the object is deleted as usual: None); stack restores the newest archived copy and answers the
    DELETE of that copy (None when there is nothing archived: the object is deleted as usual)."""
    legacy = await archive_of(call)
    if legacy is None:
        return None
    archive, mode = legacy
    if mode == "history":
        await archive_current(call, archive)
        await _write_history_marker(call, archive)
        return None
    target = await _pop_archived(call, archive)
    if target is None:
        return None
    if not await call.storage.remove_object(call.account, archive, target):
        raise SwiftError(404)
    return Response(b"", 204, content_type=HTML)


async def _write_history_marker(call: Call, archive: str) -> None:
    name = _archived_name(call.obj, time.time())
    attrs = ObjectAttrs(content_type=DELETE_MARKER_CONTENT_TYPE)
    try:
        await call.storage.put_object(call.account, archive, name, _empty(), attrs=attrs)
    except (st.NoSuchContainer, st.InvalidKey):
        raise SwiftError(412) from None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield


async def _pop_archived(call: Call, archive: str) -> str | None:
    """Put the newest archived copy back in place of the object. Returns the archived name the
    DELETE is then meant for: the restored copy (or, when a delete marker is newest and nothing
    is current, that marker); None: the object itself."""
    try:
        newest = (await call.storage.list_objects(call.account, archive, prefix=_prefix(call.obj),
                                                  reverse=True, limit=2)).objects
    except st.NoSuchContainer:
        return None
    if not newest:
        return None
    if newest[0].content_type != DELETE_MARKER_CONTENT_TYPE:
        await _restore(call, archive, newest[0].key)
        return newest[0].key
    if await _exists(call):
        return None
    if len(newest) > 1 and newest[1].content_type != DELETE_MARKER_CONTENT_TYPE:
        await _restore(call, archive, newest[1].key)
        await call.storage.delete_object(call.account, archive, newest[1].key)
    return newest[0].key


async def _restore(call: Call, archive: str, name: str) -> None:
    location = (call.account, call.container, call.obj)
    await call.storage.copy_object(call.account, archive, name, *location)


async def _exists(call: Call) -> bool:
    try:
        await call.storage.head_object(call.account, call.container, call.obj)
    except st.NoSuchObject:
        return False
    return True


async def _store(call: Call, archive: str, name: str, etag: str) -> None:
    try:
        await call.storage.copy_object(call.account, call.container, call.obj, call.account, archive, name,
                                       source_etag=etag)
    except (st.NoSuchContainer, st.InvalidKey):
        raise SwiftError(412) from None


def _prefix(name: str) -> str:
    return f"{len(name):03x}{name}/"


def _archived_name(name: str, moment: float) -> str:
    """Swift's `Timestamp.internal`: ten digits, a dot, five decimals."""
    return f"{_prefix(name)}{moment:016.5f}"
