"""Account GET (container listing), HEAD and POST (metadata)."""

from __future__ import annotations

import time

from stackbox.http import Response
from stackbox.storage.types import AccountInfo
from stackbox.swift.container import ALLOWED_METHODS
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError, html_body
from stackbox.swift.headers import check_meta_totals, meta_headers, meta_update, x_timestamp
from stackbox.swift.listing import CONTENT_TYPES, listing_format, listing_query, render_containers
from stackbox.swift.quotas import account_quota_changes, account_quota_headers


def account_headers(call: Call, info: AccountInfo, content_type: str) -> list[tuple[str, str]]:
    """In Swift's order (`swift stat` prints the headers it does not know in the order received)."""
    policy = "X-Account-Storage-Policy-Policy-0-"
    headers = [
        ("Content-Type", content_type),
        ("X-Account-Container-Count", str(info.container_count)),
        ("X-Account-Object-Count", str(info.object_count)),
        ("X-Account-Bytes-Used", str(info.bytes_used)),
        ("X-Timestamp", x_timestamp(info.created or time.time())),
        (policy + "Container-Count", str(info.container_count)),
        (policy + "Object-Count", str(info.object_count)),
        (policy + "Bytes-Used", str(info.bytes_used)),
        *meta_headers(info.meta, "account", owner=call.owner),
        ("Accept-Ranges", "bytes"),
        *account_quota_headers(info.meta),
    ]
    auth = call.auth
    # Swift's keystoneauth records the owning project's domain on the account.
    if auth is not None and auth.account == call.account and auth.project_domain_id:
        headers.append(("X-Account-Project-Domain-Id", auth.project_domain_id))
    return headers


async def get_account(call: Call) -> Response:
    info = await call.storage.get_account(call.account)
    fmt = listing_format(call.request)
    query = listing_query(call.request, paths=False)
    listing = await call.storage.list_containers(
        call.account, prefix=query.prefix, delimiter=query.delimiter, marker=query.marker,
        end_marker=query.end_marker, limit=query.limit, reverse=query.reverse)
    body = render_containers(listing, fmt, call.account, reverse=query.reverse)
    headers = account_headers(call, info, CONTENT_TYPES[fmt])
    if "format" not in call.query:
        headers.append(("Vary", "Accept"))
    status = 204 if fmt == "plain" and not body else 200
    return Response(body, status, headers)


async def head_account(call: Call) -> Response:
    info = await call.storage.get_account(call.account)
    content_type = CONTENT_TYPES[listing_format(call.request)]
    return Response(b"", 204, [*account_headers(call, info, content_type), ("Vary", "Accept")])


async def post_account(call: Call) -> Response:
    await _update_meta(call)
    return Response(b"", 204, content_type=HTML)


async def put_account(call: Call) -> Response:
    """Accounts exist implicitly; only owners get here, and their PUT is accepted as Swift's is."""
    await _update_meta(call)
    return Response(html_body(202), 202, content_type=HTML)


async def _update_meta(call: Call) -> None:
    quotas_set, quotas_removed = account_quota_changes(call)
    update = meta_update(call.headers, "account")
    check_meta_totals(update.applied_to((await call.storage.get_account(call.account)).meta))
    updates, removes = {**update.set, **quotas_set}, [*update.remove, *quotas_removed]
    if updates or removes:
        await call.storage.update_account_meta(call.account, updates, removes, check=check_meta_totals)


async def delete_account(call: Call) -> Response:
    """keystoneauth refuses an account's deletion to all but the reseller admin, and stackbox
    does not delete accounts at all."""
    raise SwiftError(403)


async def not_allowed(call: Call) -> Response:
    raise SwiftError(405, headers=[("Allow", ALLOWED_METHODS)])
