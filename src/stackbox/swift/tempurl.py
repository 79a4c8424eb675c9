"""Temporary URLs: `?temp_url_sig=...&temp_url_expires=...` grants one method on one object (or on
every object under `temp_url_prefix`) without a token, signed with an account or container key
(`X-Account-Meta-Temp-URL-Key[-2]`, `X-Container-Meta-Temp-URL-Key[-2]`)."""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from calendar import timegm
from ipaddress import ip_address, ip_network
from urllib.parse import quote

from stackbox.storage.types import NoSuchContainer
from stackbox.swift.context import Call
from stackbox.swift.errors import HTML, SwiftError, html_error
from stackbox.swift.headers import http_date, title, user_meta

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")
DIGESTS = ("sha256", "sha512")
_HEX_LENGTHS = {64: "sha256", 128: "sha512"}
_KEY_NAMES = ("temp-url-key", "temp-url-key-2")
#: A HEAD may use a signature made for any of these methods.
_HEAD_SIGNED_AS = ("HEAD", "GET", "PUT", "POST")
#: The only query parameters a TempURL request keeps: any other (`multipart-manifest`,
#: `extract-archive`, `bulk-delete`, `symlink`, ...) would do more than the signature allows
#: (CVE-2015-5223).
_OWN_PARAMETERS = frozenset({"temp_url_sig", "temp_url_expires", "temp_url_prefix", "temp_url_ip_range",
                             "filename", "inline"})
#: 9999-12-31T23:59:59Z, the last moment an HTTP date can name.
_LAST_EXPIRY = 253_402_300_799
#: Headers that would make a written object point at data the URL does not grant.
_DISALLOWED_HEADERS = ("x-object-manifest", "x-symlink-target", "x-copy-from")


def invalid() -> SwiftError:
    challenge = ("Www-Authenticate", 'Swift realm="unknown"')
    return SwiftError(401, "401 Unauthorized: Temp URL invalid\n", [challenge], content_type=HTML)


def is_temp_url(call: Call) -> bool:
    return "temp_url_sig" in call.query


async def authorize_temp_url(call: Call) -> None:
    """Mark the call as authorised by its signature, or raise 401."""
    query = call.query
    # A container's root only for a read with an empty prefix: staticweb's listing (see `response_headers`).
    root_read = call.method in ("GET", "HEAD") and query.get("temp_url_prefix") == ""
    if (not call.obj and not root_read) or call.method not in METHODS:
        raise invalid()
    expires = _check_expiry(query.get("temp_url_expires", ""))
    digest, signature = parse_signature(query.get("temp_url_sig", ""))
    path = _signed_path(call)
    ip_range = query.get("temp_url_ip_range")
    if ip_range is not None and not _ip_allowed(ip_range, call.request.client_host):
        raise invalid()
    methods = _HEAD_SIGNED_AS if call.method == "HEAD" else (call.method,)
    for key, scope in await scoped_keys(call):
        for method in methods:
            message = f"{method}\n{expires}\n{path}"
            if ip_range is not None:
                message = f"ip={ip_range}\n{message}"
            expected = hmac.new(key, message.encode(), digest).digest()
            if hmac.compare_digest(expected, signature):
                _confine(call, scope)
                return
    raise invalid()


def _confine(call: Call, container_scope: str | None) -> None:
    """Limit a validly signed request to what the URL grants, as Swift's tempurl does."""
    if call.method not in ("GET", "HEAD"):
        for header in _DISALLOWED_HEADERS:
            if header in call.headers:
                raise html_error(400, f"The header {title(header)!r} is not allowed in this tempurl")
    query = call.query
    for name in [name for name in query if name not in _OWN_PARAMETERS]:
        del query[name]
    call.temp_url = True
    call.temp_url_container = container_scope


def _check_expiry(raw: str) -> int:
    """The URL's expiry as a Unix time, which is what is signed (as Swift signs it), whatever form
    the URL gives it in; 401 if it is malformed or past."""
    try:
        value = _expiry(raw)
    except ValueError:
        raise invalid() from None
    if value < time.time():
        raise invalid()
    return value


def _expiry(raw: str) -> int:
    """`temp_url_expires` as a Unix time: seconds, or ISO 8601 in UTC; ValueError otherwise, and past
    the year 9999 (the URL's Expires header could not name it)."""
    value = int(raw) if raw.isdigit() else timegm(time.strptime(raw, "%Y-%m-%dT%H:%M:%SZ"))
    if value > _LAST_EXPIRY:
        raise ValueError(raw)
    return value


def parse_signature(raw: str) -> tuple[str, bytes]:
    """(digest name, raw signature) from hex or `<digest>:<base64>` forms."""
    digest, colon, encoded = raw.partition(":")
    try:
        if colon:
            if digest not in DIGESTS:
                raise invalid()
            return digest, base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        name = _HEX_LENGTHS.get(len(raw))
        if name is None:
            raise invalid()
        return name, bytes.fromhex(raw)
    except (ValueError, binascii.Error):
        raise invalid() from None


def _signed_path(call: Call) -> str:
    prefix = call.query.get("temp_url_prefix")
    if prefix is None:
        return call.object_path
    if not call.obj.startswith(prefix):
        raise invalid()
    return f"prefix:/v1/{call.account}/{call.container}/{prefix}"


def _ip_allowed(ip_range: str, client: str) -> bool:
    try:
        return ip_address(client) in ip_network(ip_range, strict=False)
    except ValueError:
        return False


async def signing_keys(call: Call) -> list[bytes]:
    """The account's and then the container's temp URL keys (also FormPost's keys)."""
    return [key for key, _ in await scoped_keys(call)]


def key_bytes(key: str) -> list[bytes]:
    """The bytes a stored key was set as. Swift signs with the UTF-8 bytes of the header value; a value
    kept as read off the wire (each byte one latin-1 character) gives them back by latin-1."""
    candidates = [key.encode()]
    try:
        raw = key.encode("latin-1")
    except UnicodeEncodeError:
        return candidates
    return candidates if raw == candidates[0] else [raw, *candidates]


async def scoped_keys(call: Call) -> list[tuple[bytes, str | None]]:
    """Each key with the container it confines a signature to (None for the account's keys)."""
    account_meta = (await call.storage.get_account(call.account)).meta
    try:
        container_meta = await call.storage.container_meta(call.account, call.container)
    except NoSuchContainer:
        container_meta = {}
    keys: list[tuple[bytes, str | None]] = []
    for meta, scope in ((account_meta, None), (container_meta, call.container)):
        for name in _KEY_NAMES:
            key = user_meta(meta, name)
            if key:
                keys.extend((raw, scope) for raw in key_bytes(key))
    return keys


def _shown(header: str) -> bool:
    return not header.startswith("x-object-meta-") or header.startswith("x-object-meta-public-")


def response_headers(call: Call, status: int, headers: list[tuple[str, str]], *,
                     inline: bool = False) -> list[tuple[str, str]]:
    """Hide private metadata from the URL's holder; make successful reads downloads (or `inline`)
    that expire with the URL."""
    kept = [(name, value) for name, value in headers if _shown(name.lower())]
    if call.method in ("GET", "HEAD") and 200 <= status < 300:
        if not call.obj and not inline:
            raise invalid()
        stored = next((v for n, v in kept if n.lower() == "content-disposition"), None)
        kept = [(n, v) for n, v in kept if n.lower() != "content-disposition"]
        kept.append(("Content-Disposition", _disposition(call, stored, inline).replace("\n", "%0A")))
        kept.append(("Expires", http_date(int(_expiry(call.query["temp_url_expires"])))))
    return kept


def _disposition(call: Call, stored: str | None, inline: bool) -> str:
    """`inline` or `filename` from the URL (a page staticweb made is inline); else the object's own
    Content-Disposition; else a download named after the object (its last path segment)."""
    filename = call.query.get("filename") or None
    if inline or "inline" in call.query:
        return "inline" if filename is None else _named("inline", filename)
    if filename is not None:
        return _named("attachment", filename)
    if stored is not None:
        return stored
    return _named("attachment", call.obj.rstrip("/").rsplit("/", 1)[-1])


def _named(kind: str, filename: str) -> str:
    return f"{kind}; filename=\"{quote(filename, safe=' /')}\"; filename*=UTF-8''{quote(filename)}"
