"""Container PUT (201 created, 202 existed), GET (object listing), HEAD, POST and DELETE."""

from __future__ import annotations

from stackbox.http import Response
from stackbox.storage.types import ContainerInfo, ContainerNotEmpty, NoSuchContainer
from stackbox.swift import legacy_versioning, symlink, versioning
from stackbox.swift.acl import acl_updates
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError, html_body, html_error
from stackbox.swift.headers import (
    MAX_CONTAINER_NAME_LENGTH,
    READ_ACL,
    WRITE_ACL,
    check_meta_totals,
    http_date,
    meta_headers,
    meta_update,
    x_timestamp,
)
from stackbox.swift.listing import (
    CONTENT_TYPES,
    list_container,
    listing_format,
    listing_query,
    render_objects,
    render_versions,
)
from stackbox.swift.quotas import check_container_quotas

#: Swift's `Allow` for a container or object (COPY is a middleware's, so not listed).
ALLOWED_METHODS = "DELETE, HEAD, POST, PUT, GET, OPTIONS"


def container_headers(info: ContainerInfo, owner: bool, content_type: str) -> list[tuple[str, str]]:
    """In Swift's order (`swift stat` prints the headers it does not know in the order received)."""
    headers = [
        ("Content-Type", content_type),
        ("X-Container-Object-Count", str(info.object_count)),
        ("X-Container-Bytes-Used", str(info.bytes_used)),
        ("X-Timestamp", x_timestamp(info.created)),
        *meta_headers(info.meta, "container", owner=owner),
    ]
    if owner:
        for key, header in ((READ_ACL, "X-Container-Read"), (WRITE_ACL, "X-Container-Write")):
            if key in info.meta:
                headers.append((header, info.meta[key]))
    headers += [("Last-Modified", http_date(info.created)), ("Accept-Ranges", "bytes"),
                ("X-Storage-Policy", "Policy-0"), *versioning.container_headers(info)]
    return headers


def _check_name(name: str) -> None:
    if len(name) > MAX_CONTAINER_NAME_LENGTH:
        raise html_error(400, f"Container name length of {len(name)} longer than {MAX_CONTAINER_NAME_LENGTH}")


async def _changes(call: Call) -> tuple[dict[str, str], list[str]]:
    check_container_quotas(call.headers)
    update = meta_update(call.headers, "container")
    try:
        info: ContainerInfo | None = await call.storage.get_container(call.account, call.container)
    except NoSuchContainer:
        info = None
    versioning.check_versioning_request(call, info)
    check_meta_totals(update.applied_to(info.meta if info else {}))
    acl_set, acl_remove = acl_updates(call.headers)
    legacy_set, legacy_remove = legacy_versioning.meta_changes(call.headers)
    return {**update.set, **acl_set, **legacy_set}, [*update.remove, *acl_remove, *legacy_remove]


async def _taken_elsewhere(call: Call) -> bool:
    """In a global bucket namespace (`s3_global_bucket_names`), a name another account holds."""
    return any(holder != call.account for holder in await call.storage.container_accounts(call.container))


async def put_container(call: Call) -> Response:
    _check_name(call.container)
    updates, removes = await _changes(call)
    if call.identity.settings.s3_global_bucket_names and await _taken_elsewhere(call):
        return Response(html_body(409), 409, content_type=HTML)
    if await call.storage.create_container(call.account, call.container, updates):
        await versioning.apply_versioning_request(call)
        return Response(b"", 201, content_type=HTML)
    if updates or removes:
        await call.storage.update_container_meta(call.account, call.container, updates, removes,
                                                 check=check_meta_totals)
    await versioning.apply_versioning_request(call)
    return Response(html_body(202), 202, content_type=HTML)


async def get_container(call: Call) -> Response:
    info = await call.storage.get_container(call.account, call.container)
    fmt = listing_format(call.request)
    query = listing_query(call.request)
    if "versions" in call.query:
        versions = await versioning.list_versions(call, query)
        body = render_versions(versions, fmt, call.container, reverse=query.reverse)
    else:
        listing = await list_container(call.storage, call.account, call.container, query)
        body = render_objects(listing, fmt, call.container,
                              await symlink.listed_links(call, listing, fmt), reverse=query.reverse)
    headers = container_headers(info, call.owner, CONTENT_TYPES[fmt])
    if "format" not in call.query:
        headers.append(("Vary", "Accept"))
    status = 204 if fmt == "plain" and not body else 200
    return Response(body, status, headers)


async def head_container(call: Call) -> Response:
    info = await call.storage.get_container(call.account, call.container)
    content_type = CONTENT_TYPES[listing_format(call.request)]
    return Response(b"", 204, [*container_headers(info, call.owner, content_type), ("Vary", "Accept")])


async def post_container(call: Call) -> Response:
    updates, removes = await _changes(call)
    await call.storage.update_container_meta(call.account, call.container, updates, removes,
                                             check=check_meta_totals)
    await versioning.apply_versioning_request(call)
    return Response(b"", 204, content_type=HTML)


async def delete_container(call: Call) -> Response:
    info = await call.storage.get_container(call.account, call.container)
    try:
        await call.storage.delete_container(call.account, call.container)
    except ContainerNotEmpty:
        raise versioning.container_not_empty(info) from None
    return Response(b"", 204, content_type=HTML)


async def not_allowed(call: Call) -> Response:
    raise SwiftError(405, headers=[("Allow", ALLOWED_METHODS)])
