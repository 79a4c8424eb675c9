"""Who may do what: account ownership by token, else the container's read/write ACLs.

ACL syntax (as Swift's keystoneauth): comma-separated entries; `.r:<referrer>` (`*`, a host, `.suffix`,
or `-` to deny) and `.rlistings` in read ACLs only; `<project>:<user>` grants where either side is a
name, an id or `*`; a bare entry grants a role name.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlparse

from stackbox.auth import AuthContext
from stackbox.storage.types import NoSuchContainer
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError, html_error
from stackbox.swift.headers import READ_ACL, WRITE_ACL

READ_METHODS = frozenset({"GET", "HEAD"})


def unauthorized(call: Call) -> SwiftError:
    """401 naming the account and the Keystone that issues its tokens, as keystoneauth answers."""
    keystone_uri = call.identity.settings.identity_url.removesuffix("/v3")
    challenge = f'Swift realm="{call.account}", Keystone uri="{keystone_uri}"'
    return SwiftError(401, headers=[("Www-Authenticate", challenge)])


def authorize(call: Call) -> None:
    """Raise 401 (no valid caller) or 403 (caller without the right) unless the request is allowed."""
    auth = call.auth
    if auth is not None and (auth.is_admin or auth.account == call.account):
        allowed = auth.can_read if call.method in READ_METHODS else auth.can_write
        if not allowed:
            raise SwiftError(403)
        call.owner = True
        return
    if call.container and _acl_allows(call):
        return
    raise unauthorized(call) if auth is None else SwiftError(403)


def _acl_allows(call: Call) -> bool:
    try:
        meta = call.storage.get_container(call.account, call.container).meta
    except NoSuchContainer:
        return False
    if call.method in READ_METHODS:
        entries = parse_acl(meta.get(READ_ACL, ""))
        if call.auth is not None and _granted(entries, call.auth):
            return True
        listing = not call.obj
        return (".rlistings" in entries or not listing) and referrer_allowed(entries, call.headers)
    if call.obj and call.method in {"PUT", "POST", "DELETE", "COPY"}:
        return call.auth is not None and _granted(parse_acl(meta.get(WRITE_ACL, "")), call.auth)
    return False


def container_allows(call: Call, account: str, container: str, *, write: bool) -> bool:
    """Whether a caller who does not own the account may read (or write) objects of `container`
    (copies check both ends this way)."""
    try:
        meta = call.storage.get_container(account, container).meta
    except NoSuchContainer:
        return False
    entries = parse_acl(meta.get(WRITE_ACL if write else READ_ACL, ""))
    if call.auth is not None and _granted(entries, call.auth):
        return True
    return not write and referrer_allowed(entries, call.headers)


def parse_acl(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _granted(entries: list[str], auth: AuthContext) -> bool:
    for entry in entries:
        if entry.startswith("."):
            continue
        if ":" in entry:
            project, _, user = entry.partition(":")
            if (project in ("*", auth.project_id, auth.project_name)
                    and user in ("*", auth.user_id, auth.user_name)):
                return True
        elif entry in auth.roles:
            return True
    return False


def referrer_allowed(entries: list[str], headers: Mapping[str, str]) -> bool:
    """The last `.r:` entry matching the Referer's host decides (`-` entries deny)."""
    host = urlparse(headers.get("referer", "")).hostname or ""
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
