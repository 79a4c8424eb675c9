"""Swift symlinks: zero-byte objects that name another object (`X-Symlink-Target`).

A link keeps its target in system metadata. GET and HEAD follow it (at most `SYMLOOP_MAX` links
in a chain) and answer with the target, plus `Content-Location`; `?symlink=get` answers the link
itself. A static link (`X-Symlink-Target-Etag`) also records the etag its target had when it was
made, and refuses to be followed once the target's etag differs. Every hop is a read of the target
authorised as the caller, as Swift's symlink sub-requests are, so a link in a public container does
not publish a private target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from stackbox.http import Response, clean_unquote
from stackbox.storage.types import (
    NoSuchContainer,
    NoSuchObject,
    ObjectInfo,
    ObjectListing,
    Preconditions,
    WriteChecks,
)
from stackbox.swift.acl import denied, may_read
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError, bad_request
from stackbox.swift.object_meta import created, manifest_etag, request_attrs

#: Swift's default: a chain may pass through this many links before a GET answers 409.
SYMLOOP_MAX = 2
TARGET_HEADER = "x-symlink-target"
ACCOUNT_HEADER = "x-symlink-target-account"
ETAG_HEADER = "x-symlink-target-etag"
#: The link's system metadata (target names are stored decoded, answered percent-encoded).
TARGET_META = "sys:symlink-target"
ACCOUNT_META = "sys:symlink-target-account"
ETAG_META = "sys:symlink-target-etag"
BYTES_META = "sys:symlink-target-bytes"
LINK_META = (TARGET_META, ACCOUNT_META, ETAG_META, BYTES_META)
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
DEFAULT_CONTENT_TYPE = "application/symlink"
_TARGET_FORM = "X-Symlink-Target header must be of the form <container name>/<object name>"
_POST_APPLIED = ("The requested POST was applied to a symlink. POST directly to the target to apply "
                 "requested metadata.")


@dataclass(frozen=True, slots=True)
class Link:
    account: str
    container: str
    obj: str
    #: The target etag of a static link; None for a dynamic one.
    etag: str | None

    @property
    def path(self) -> str:
        """`/v1/<account>/<container>/<object>`, percent-encoded as Swift answers it."""
        return f"/v1/{quote(self.account)}/{quote(f'{self.container}/{self.obj}')}"


def link_of(obj: ObjectInfo) -> Link | None:
    return _stored_link(obj.meta, obj.account)


def _stored_link(meta: Mapping[str, str], account: str) -> Link | None:
    """The link an object of `account` with metadata `meta` is, if it is one."""
    target = meta.get(TARGET_META)
    if target is None:
        return None
    container, _, name = target.partition("/")
    return Link(meta.get(ACCOUNT_META, account), container, name, meta.get(ETAG_META))


def system_meta(obj: ObjectInfo) -> dict[str, str]:
    """What a link keeps through metadata updates and copies."""
    return {name: obj.meta[name] for name in LINK_META if name in obj.meta}


# ---------------------------------------------------------------------------------------- reads


async def followed(call: Call, obj: ObjectInfo) -> tuple[ObjectInfo, list[tuple[str, str]]]:
    """The object a GET/HEAD answers with and the headers the link adds: the link itself and its
    `X-Symlink-*` headers with `?symlink=get`, else the end of the chain and its `Content-Location`."""
    if link_of(obj) is None:
        return obj, []
    if call.query.get("symlink") == "get":
        return obj, link_headers(obj)
    target, location = await _walk(call, obj)
    return target, [("Content-Location", location)] if location else []


def link_headers(obj: ObjectInfo) -> list[tuple[str, str]]:
    meta = obj.meta
    headers = [("X-Symlink-Target", quote(meta[TARGET_META]))]
    if ACCOUNT_META in meta:
        headers.append(("X-Symlink-Target-Account", quote(meta[ACCOUNT_META])))
    if ETAG_META in meta:
        headers += [("X-Symlink-Target-Etag", meta[ETAG_META]), ("X-Symlink-Target-Bytes", meta[BYTES_META])]
    return headers


async def copy_source(call: Call, obj: ObjectInfo) -> ObjectInfo:
    """A copy of a link copies its target, unless `?symlink=get` asks for the link itself."""
    if call.query.get("symlink") == "get":
        return obj
    return (await _walk(call, obj))[0]


async def _walk(call: Call, obj: ObjectInfo, expected_etag: str | None = None, location: str | None = None,
                follow_dynamic: bool = True) -> tuple[ObjectInfo, str | None]:
    """Follow links from `obj` (a dynamic first link only if `follow_dynamic`), checking each static
    link's etag against what it points at; returns the end and the path of the last link's target
    (`location`: the path `obj` was read at, when it was reached through a link)."""
    hops = 0
    while (link := link_of(obj)) is not None and (link.etag or follow_dynamic or hops):
        found = link.etag or obj.etag
        if expected_etag and expected_etag != found:
            raise SwiftError(409, "X-Symlink-Target-Etag headers do not match",
                             [("Content-Location", location or "")])
        if hops >= SYMLOOP_MAX:
            raise SwiftError(409, f"Too many levels of symbolic links, maximum allowed is {SYMLOOP_MAX}")
        hops += 1
        expected_etag, location = link.etag, link.path
        obj = await _read_target(call, link)
    final_etag = compared_etag(obj)
    if expected_etag and expected_etag != final_etag:
        raise SwiftError(409, f"Object Etag {final_etag!r} does not match X-Symlink-Target-Etag header "
                              f"{expected_etag!r}", [("Content-Location", location or "")])
    return obj, location


async def _read_target(call: Call, link: Link) -> ObjectInfo:
    """The target, read as the caller; errors carry the target's path as Swift's do."""
    where = [("Content-Location", link.path)]
    if not await may_read(call, link.account, link.container):
        error = denied(call)
        error.headers += where
        raise error
    try:
        return await call.storage.get_object(link.account, link.container, link.obj)
    except (NoSuchObject, NoSuchContainer):
        raise SwiftError(404, headers=where) from None


def compared_etag(obj: ObjectInfo) -> str:
    """The etag a static link records: a large object's is its manifest's, as Swift's symlink
    middleware sees the manifest below the SLO middleware."""
    return manifest_etag(obj) if obj.manifest_type == "slo" or obj.parts else obj.etag


# ---------------------------------------------------------------------------------------- writes


def is_link_put(call: Call) -> bool:
    return TARGET_HEADER in call.headers


async def put_symlink(call: Call, preconditions: Preconditions) -> Response:
    await _check_empty_body(call)
    link = _requested_link(call)
    meta: dict[str, str] = {TARGET_META: f"{link.container}/{link.obj}"}
    if ACCOUNT_HEADER in call.headers:
        meta[ACCOUNT_META] = link.account
    content_type = call.headers.get("content-type") or DEFAULT_CONTENT_TYPE
    if link.etag:
        target = await _static_target(call, link)
        meta |= {ETAG_META: link.etag, BYTES_META: str(target.size)}
        content_type = call.headers.get("content-type") or target.content_type
    attrs = request_attrs(call)
    attrs = dataclasses.replace(attrs, content_type=content_type, meta={**attrs.meta, **meta},
                                manifest_type=None, manifest=None)
    info = await call.storage.put_object(call.account, call.container, call.obj, _nothing(), attrs=attrs,
                                         checks=WriteChecks(length=0, max_length=0),
                                         preconditions=preconditions)
    return created(info)


async def _check_empty_body(call: Call) -> None:
    length = call.headers.get("content-length")
    if "x-copy-from" in call.headers or (length is not None and length != "0"):
        raise bad_request("Symlink requests require a zero byte body")
    if length is None:
        async for chunk in call.request.stream():
            if chunk:
                raise bad_request("Symlink requests require a zero byte body")


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


def _requested_link(call: Call) -> Link:
    raw = call.headers[TARGET_HEADER]
    target = clean_unquote(raw)
    if target is None:
        raise SwiftError(412, "Invalid UTF8 or contains NULL")
    container, slash, name = target.partition("/")
    if target.startswith("/") or not (container and slash and name):
        raise SwiftError(412, _TARGET_FORM)
    account = call.account
    if ACCOUNT_HEADER in call.headers:
        account = _requested_account(call.headers[ACCOUNT_HEADER])
    if (account, container, name) == (call.account, call.container, call.obj):
        raise bad_request("Symlink cannot target itself")
    return Link(account, container, name, _requested_etag(call.headers))


def _requested_account(raw: str) -> str:
    account = clean_unquote(raw)
    if account is None:
        raise SwiftError(412, "Invalid UTF8 or contains NULL")
    if not account:
        raise SwiftError(412, "Account name cannot be empty")
    if "/" in account:
        raise SwiftError(412, "Account name cannot contain slashes")
    return account


def _requested_etag(headers: Mapping[str, str]) -> str | None:
    etag = headers.get(ETAG_HEADER)
    if etag and len(etag) > 1 and etag.startswith('"') and etag.endswith('"'):
        etag = etag[1:-1]
    if etag and any(char in etag for char in ';"\\'):
        raise bad_request("Bad X-Symlink-Target-Etag format")
    return etag or None


async def _static_target(call: Call, link: Link) -> ObjectInfo:
    """A static link's target must exist, readable by the caller, with the etag the link names."""
    try:
        target = await _read_target(call, link)
        return (await _walk(call, target, link.etag, link.path, follow_dynamic=False))[0]
    except SwiftError as error:
        if error.status == 404:
            raise SwiftError(409, "X-Symlink-Target does not exist", error.headers) from None
        raise


def refuse_target_on_post(call: Call) -> None:
    if TARGET_HEADER in call.headers:
        raise bad_request("A PUT request is required to set a symlink target")


def post_answer(current: ObjectInfo) -> Response | None:
    """A POST to a link updates the link, then answers 307 pointing at the target, as Swift does."""
    link = link_of(current)
    if link is None:
        return None
    headers = [("Location", link.path)]
    if link.etag:
        headers.append(("X-Symlink-Target-Etag", link.etag))
    return Response(_POST_APPLIED.encode(), 307, headers, HTML)


# ---------------------------------------------------------------------------------------- listings


async def listed_links(call: Call, listing: ObjectListing, fmt: str) -> dict[str, dict[str, object]]:
    """The `symlink_*` keys Swift's JSON listings add to each link (other formats show none). Only
    zero-byte objects with the empty etag can be links; their metadata is read in one go."""
    if fmt != "json":
        return {}
    candidates = [entry.key for entry in listing.objects
                  if not entry.size and entry.etag == EMPTY_MD5 and not entry.manifest_type]
    if not candidates:
        return {}
    links = {}
    for key, meta in (await call.storage.current_meta(call.account, call.container, candidates)).items():
        link = _stored_link(meta, call.account)
        if link is not None:
            links[key] = _listing_keys(link, meta)
    return links


def _listing_keys(link: Link, meta: Mapping[str, str]) -> dict[str, object]:
    keys: dict[str, object] = {}
    if link.etag:
        keys = {"symlink_etag": link.etag, "symlink_bytes": int(meta.get(BYTES_META, "0"))}
    keys["symlink_path"] = link.path
    return keys
