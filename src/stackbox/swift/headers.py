"""Swift's header rules: limits (the same numbers `/info` publishes), metadata, timestamps."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime

from stackbox.swift.errors import bad_request

MAX_FILE_SIZE = 5 * 1024**3 + 2
MAX_META_NAME_LENGTH = 128
MAX_META_VALUE_LENGTH = 256
MAX_META_COUNT = 90
MAX_META_OVERALL_SIZE = 4096
MAX_HEADER_SIZE = 8192
MAX_OBJECT_NAME_LENGTH = 1024
MAX_CONTAINER_NAME_LENGTH = 256
MAX_ACCOUNT_NAME_LENGTH = 256
LISTING_LIMIT = 10_000
#: Swift caps expiry times at this moment (November 2286), however late the request asks for.
MAX_DELETE_AT = 9_999_999_999

#: Object headers stored as given and returned on GET/HEAD (besides metadata).
OBJECT_PASSTHROUGH = ("content-encoding", "content-disposition", "content-language", "cache-control",
                      "expires", "x-robots-tag")

#: Namespaces of the engine's metadata dicts: user metadata and our own settings (ACLs).
USER = "meta:"
READ_ACL = "sys:read"
WRITE_ACL = "sys:write"

TRUE_VALUES = frozenset({"true", "1", "yes", "on", "t", "y"})

#: User metadata only the account's owners see (Swift's `swift_owner_headers`; the ACL headers,
#: also in that list, are never returned to anyone else either).
OWNER_ONLY_META = frozenset({USER + "temp-url-key", USER + "temp-url-key-2"})


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in TRUE_VALUES


def title(name: str) -> str:
    """`temp-url-key` -> `Temp-Url-Key`, the way swob capitalises header names."""
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


class MetaUpdate:
    """The metadata a PUT/POST sets and removes, from `X-<kind>-Meta-*` and `X-Remove-<kind>-Meta-*`."""

    __slots__ = ("remove", "set")

    def __init__(self) -> None:
        self.set: dict[str, str] = {}
        self.remove: list[str] = []

    def applied_to(self, meta: Mapping[str, str]) -> dict[str, str]:
        merged = {**meta, **self.set}
        for name in self.remove:
            merged.pop(name, None)
        return merged


def meta_update(headers: Mapping[str, str], kind: str) -> MetaUpdate:
    """Parse and check the request's metadata for `kind` (account, container, object).

    An empty value removes a name, as does `X-Remove-<kind>-Meta-<name>`. Raises a 400 SwiftError
    with Swift's wording when a limit is exceeded.
    """
    prefix = f"x-{kind}-meta-"
    remove_prefix = f"x-remove-{kind}-meta-"
    update = MetaUpdate()
    count = size = 0
    for name, value in headers.items():
        if name.startswith(prefix):
            key = name[len(prefix):]
            _check_meta(prefix, key.title(), value)
            count += 1
            size += len(key) + len(value)
            if value:
                update.set[USER + key] = value
            else:
                update.remove.append(USER + key)
        elif name.startswith(remove_prefix):
            update.remove.append(USER + name[len(remove_prefix):])
    if count > MAX_META_COUNT:
        raise bad_request(f"Too many metadata items; max {MAX_META_COUNT}")
    if size > MAX_META_OVERALL_SIZE:
        raise bad_request(f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")
    return update


def check_meta_totals(meta: Mapping[str, str]) -> None:
    """Swift's limits on the user metadata an account, container or object ends up with: its
    account and container brokers check the merged result of every update, and a copy's PUT carries
    the source's metadata with the request's, so neither grows past them one request at a time."""
    items = [(name[len(USER):], value) for name, value in meta.items() if name.startswith(USER) and value]
    if len(items) > MAX_META_COUNT:
        raise bad_request(f"Too many metadata items; max {MAX_META_COUNT}")
    if sum(len(name) + len(value) for name, value in items) > MAX_META_OVERALL_SIZE:
        raise bad_request(f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")


def _check_meta(prefix: str, key: str, value: str) -> None:
    if not key:
        raise bad_request("Metadata name cannot be empty")
    if len(key) > MAX_META_NAME_LENGTH:
        raise bad_request(f"Metadata name too long: {prefix}{key}")
    if len(value) > MAX_META_VALUE_LENGTH:
        raise bad_request(f"Metadata value longer than {MAX_META_VALUE_LENGTH}: {prefix}{key}")


def meta_headers(meta: Mapping[str, str], kind: str, namespace: str = USER, *,
                 owner: bool = True) -> list[tuple[str, str]]:
    """`X-<Kind>-Meta-<Name>` response headers for the names under `namespace` in an engine meta dict
    (user metadata is `meta:<name>` for accounts, containers and objects; S3 shares the objects').
    Without `owner`, the owner-only names are left out."""
    prefix = f"X-{kind.title()}-Meta-"
    skip = len(namespace)
    return [(prefix + title(name[skip:]), value) for name, value in meta.items()
            if name.startswith(namespace) and (owner or name.lower() not in OWNER_ONLY_META)]


def user_meta(meta: Mapping[str, str], name: str) -> str | None:
    return meta.get(USER + name)


def x_timestamp(moment: float) -> str:
    return f"{moment:.5f}"


def http_date(moment: float) -> str:
    """Swift rounds Last-Modified up to the next whole second."""
    return formatdate(math.ceil(moment), usegmt=True)


def iso_date(moment: float) -> str:
    """Listings' `last_modified`: ISO 8601 in UTC with microseconds, no zone suffix."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def parse_http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def delete_at(headers: Mapping[str, str], now: float | None = None) -> int | None:
    """The expiry a request asks for (`X-Delete-At` or `X-Delete-After`), checked as Swift does."""
    moment = time.time() if now is None else now
    after = headers.get("x-delete-after")
    if after is not None:
        try:
            seconds = int(after)
        except ValueError:
            raise bad_request("Non-integer X-Delete-After") from None
        if seconds <= 0:
            raise bad_request("X-Delete-After in past")
        return min(int(moment) + seconds, MAX_DELETE_AT)
    at = headers.get("x-delete-at")
    if at is None:
        return None
    try:
        value = min(max(int(at), 0), MAX_DELETE_AT)
    except ValueError:
        raise bad_request("Non-integer X-Delete-At") from None
    if value <= moment:
        raise bad_request("X-Delete-At in past")
    return value
