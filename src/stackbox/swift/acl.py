"""Who may do what, as Swift's keystoneauth decides it with the reference cloud's settings.

The reseller admin (`ResellerAdmin`) owns every account; an operator role (`admin`, `member`) on a
project owns that project's account and no other. Owners may do anything in their account and
alone see or set owner-only metadata (ACLs, TempURL keys). Everyone else, including a project's
`reader`, gets only what a container ACL grants.

ACL syntax: comma-separated entries; `.r:<referrer>` (`*`, a host, `.suffix`, or `-` to deny) and
`.rlistings` in read ACLs only; `<project>:<user>` grants where either side is a name, an id or `*`;
a bare entry grants a role name, to users of the account's own project only.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlparse

from stackbox.auth import AuthContext
from stackbox.storage.types import NoSuchContainer
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError, html_error
from stackbox.swift.headers import READ_ACL, WRITE_ACL

DEFAULT_DOMAIN = "default"
ACCOUNT_PREFIX = "AUTH_"
READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})


def unauthorized(call: Call) -> SwiftError:
    """401 naming the account and the Keystone that issues its tokens, as keystoneauth answers. The
    account comes from the path: quoted, as swob quotes the realm, it cannot break the header."""
    keystone_uri = call.identity.settings.identity_url.removesuffix("/v3")
    challenge = f'Swift realm="{quote(call.account)}", Keystone uri="{keystone_uri}"'
    if call.temp_url:  # refused by the URL's own scope (tempurl's check), not keystoneauth's
        challenge = f'Keystone uri="{keystone_uri}"'
    return SwiftError(401, headers=[("Www-Authenticate", challenge)])


def denied(call: Call) -> SwiftError:
    """keystoneauth's denial: 401 without a confirmed identity, else 403."""
    return unauthorized(call) if call.auth is None else SwiftError(403)


def owns(auth: AuthContext | None, account: str) -> bool:
    """Whether `auth` is an owner (Swift's `swift_owner`) of `account`."""
    if auth is None:
        return False
    return auth.is_reseller_admin or (auth.account == account and auth.is_swift_operator)


async def authorize(call: Call) -> None:
    """Raise 401 (no valid caller) or 403 (caller without the right) unless the request is allowed.

    A COPY is authorised here as a read of its source; `copying` checks the destination."""
    if owns(call.auth, call.account):
        call.owner = True
        return
    if call.container and await _acl_allows(call):
        return
    raise denied(call)


async def _acl_allows(call: Call) -> bool:
    if call.method in READ_METHODS or (call.obj and call.method == "COPY"):
        return await may_read(call, call.account, call.container, listing=not call.obj)
    if call.obj and call.method in WRITE_METHODS:
        return await may_write(call, call.account, call.container)
    return False


async def may_read(call: Call, account: str, container: str, *, listing: bool = False) -> bool:
    """Whether the caller may read objects of (or with `listing`, list) `container` of `account`:
    what Swift's sub-requests for copy sources and large-object segments are authorised by."""
    if call.temp_url:
        return _temp_url_reaches(call, account, container)
    if owns(call.auth, account):
        return True
    entries = await _container_acl(call, account, container, READ_ACL)
    if entries is None:
        return False
    auth = call.auth
    if auth is not None and _project_user_granted(entries, auth, _names_allowed(call, auth, account)):
        return True
    if referrer_allowed(entries, call.headers):
        return not listing or ".rlistings" in entries
    return auth is not None and auth.account == account and _role_granted(entries, auth)


async def may_write(call: Call, account: str, container: str) -> bool:
    """Whether the caller may write objects of `container` of `account` (a copy's destination)."""
    if call.temp_url:
        return _temp_url_reaches(call, account, container)
    auth = call.auth
    if owns(auth, account):
        return True
    entries = await _container_acl(call, account, container, WRITE_ACL)
    if auth is None or entries is None:
        return False
    return (_project_user_granted(entries, auth, _names_allowed(call, auth, account))
            or (auth.account == account and _role_granted(entries, auth)))


def _temp_url_reaches(call: Call, account: str, container: str) -> bool:
    """A TempURL's sub-requests stay in its account, or in its container when signed with a
    container key (Swift's tempurl `authorize_same_account` / `authorize_same_container`)."""
    scope = call.temp_url_container
    return account == call.account and (scope is None or container == scope)


async def _container_acl(call: Call, account: str, container: str, key: str) -> list[str] | None:
    try:
        meta = await call.storage.container_meta(account, container)
    except NoSuchContainer:
        return None
    return parse_acl(meta.get(key, ""))


def parse_acl(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _project_user_granted(entries: list[str], auth: AuthContext, names: bool) -> bool:
    """keystoneauth's cross-tenant grant: `<project>:<user>`, each an id or `*`, or with `names` a name."""
    projects = ("*", auth.project_id, auth.project_name) if names else ("*", auth.project_id)
    users = ("*", auth.user_id, auth.user_name) if names else ("*", auth.user_id)
    for entry in entries:
        project, colon, user = entry.partition(":")
        if colon and not entry.startswith(".") and project in projects and user in users:
            return True
    return False


def _names_allowed(call: Call, auth: AuthContext, account: str) -> bool:
    """keystoneauth matches ACL entries by name only when names are unambiguous: the caller's user and
    project, and the account's project, are all in the default domain (names are unique per domain)."""
    if auth.user_domain_id != DEFAULT_DOMAIN or auth.project_domain_id not in (DEFAULT_DOMAIN, None):
        return False
    if auth.account == account:
        return True
    project = call.identity.cached_row("project", account.removeprefix(ACCOUNT_PREFIX))
    return project is not None and project["domain_id"] in (DEFAULT_DOMAIN, None)


def _role_granted(entries: list[str], auth: AuthContext) -> bool:
    roles = {role.lower() for role in auth.roles}
    return any(entry.lower() in roles for entry in entries if not entry.startswith(".") and ":" not in entry)


def referrer_allowed(entries: list[str], headers: Mapping[str, str]) -> bool:
    """The last `.r:` entry matching the Referer's host decides (`-` entries deny)."""
    host = _referrer_host(headers.get("referer", ""))
    allowed = False
    for entry in entries:
        if not entry.startswith((".r:", ".referrer:")):
            continue
        pattern = entry.partition(":")[2]
        deny = pattern.startswith("-")
        pattern = pattern.lstrip("-")
        if pattern == "*" or host == pattern or (pattern.startswith(".") and host.endswith(pattern)):
            allowed = not deny
    return allowed


def _referrer_host(referer: str) -> str:
    """The Referer's host; none when it is no URL (`http://[` makes urlparse raise)."""
    try:
        return urlparse(referer).hostname or ""
    except ValueError:
        return ""


def clean_acl(name: str, value: str) -> str:
    """Normalise an ACL header value; 400 for designators Swift rejects."""
    entries = parse_acl(value)
    for entry in entries:
        if not entry.startswith("."):
            continue
        if name == "x-container-write":
            raise html_error(400, f"Referrers not allowed in write ACL: {entry!r}")
        designator, _, pattern = entry.partition(":")
        if entry == ".rlistings":
            continue
        if designator not in (".r", ".referrer") or not pattern.lstrip("-"):
            raise html_error(400, f"Unknown designator {designator!r} in ACL: {value!r}")
    return ",".join(entries)


def acl_updates(headers: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Container metadata changes from X-Container-Read/Write and X-Remove-Container-Read/Write."""
    updates: dict[str, str] = {}
    removes: list[str] = []
    for header, key in (("x-container-read", READ_ACL), ("x-container-write", WRITE_ACL)):
        if f"x-remove-{header[2:]}" in headers:
            removes.append(key)
        value = headers.get(header)
        if value is not None:
            cleaned = clean_acl(header, value)
            if cleaned:
                updates[key] = cleaned
            else:
                removes.append(key)
    return updates, removes
