"""Version ids and the version listing (S3's ListObjectVersions): a page costs O(page).

A version's internal id is 16 hex digits of (2**63 - 1 - creation time in ns) followed by 16 random
hex digits: ids sort newest first within a key, are URL-safe, and are never "null". The `null`
version has one too (it orders the key's history); front ends see NULL_VERSION instead.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stackbox.storage.listing import successor
from stackbox.storage.types import NULL_VERSION, InvalidVersionId, VersionEntry, VersionListing

_STAMP_MAX = (1 << 63) - 1
_VERSION_ID = re.compile(r"[0-9a-f]{32}")


def new_version(newest: str | None) -> str:
    """A fresh internal version id that sorts before `newest` (the key's newest version), also if
    the clock went back since it was made."""
    stamp = _STAMP_MAX - time.time_ns()
    if newest is not None:
        stamp = min(stamp, int(newest[:16], 16) - 1)
    return f"{stamp:016x}{secrets.token_hex(8)}"


def check_version_id(version_id: str) -> None:
    if version_id != NULL_VERSION and not _VERSION_ID.fullmatch(version_id):
        raise InvalidVersionId(version_id[:64])


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A version as the catalog lists it: the entry, plus its internal id to resume after it."""

    entry: VersionEntry
    version: str


@dataclass(frozen=True, slots=True)
class Position:
    """Where a version scan resumes: after (key, version), or, with version None, at the first
    key >= key (`inclusive`) or > key."""

    key: str
    version: str | None = None
    inclusive: bool = False


#: fetch(position, upper key bound or None, count) -> up to `count` rows in (key, version) order.
Fetch = Callable[[Position, str | None, int], Iterable[VersionRow]]
#: fetch_desc(position, lower key bound, count) -> up to `count` rows in descending (key, version)
#: order, below `position` (None: from the top); a position without a version means keys < key
#: (`inclusive`: keys <= key).
FetchDesc = Callable[[Position | None, str, int], Iterable[VersionRow]]


def list_versions(fetch: Fetch, *, prefix: str, delimiter: str, start: Position | None,
                  limit: int) -> VersionListing:
    """One page of versions and common prefixes from `start` (None: the beginning of `prefix`)."""
    if limit <= 0:
        return VersionListing([], [], False, None, None)
    upper = successor(prefix) if prefix else None
    scan = _VersionScan(prefix, delimiter, limit)
    position: Position | None = Position(prefix, None, True) if start is None else start
    while position is not None and not scan.truncated:
        position = scan.feed(fetch(position, upper, limit - scan.count() + 1), position, limit)
    return scan.result()


def start_position(key_marker: str, marker_version: str | None, prefix: str,
                   delimiter: str) -> Position | None:
    """The scan start for S3's key-marker / version-id-marker (`marker_version`: the internal id
    of the version named by version-id-marker)."""
    if not key_marker or key_marker < prefix:
        return None
    if marker_version is not None:
        return Position(key_marker, marker_version)
    rolled = _common_prefix(key_marker, prefix, delimiter)
    if rolled is not None:
        after = successor(rolled)
        return Position(after, None, True) if after is not None else Position(key_marker + "\U0010ffff")
    return Position(key_marker)


def list_versions_desc(fetch: FetchDesc, *, prefix: str, delimiter: str, start: Position | None,
                       limit: int) -> VersionListing:
    """One page backwards (Swift's `reverse`): keys descending, oldest version first within a key,
    common prefixes in their place, from below `start` (None: the end of `prefix`)."""
    if limit <= 0:
        return VersionListing([], [], False, None, None)
    scan = _VersionScan(prefix, delimiter, limit, descending=True)
    position = start
    rows = fetch(position, prefix, limit + 1)
    while not scan.truncated:
        position = scan.feed(rows, position, limit)
        if position is None:
            break
        rows = fetch(position, prefix, limit - scan.count() + 1)
    return scan.result()


def start_position_desc(key_marker: str, marker_version: str | None, prefix: str) -> Position | None:
    """The backward scan start: below `marker_version` of `key_marker`, or, with a marker alone,
    at its last version (Swift lists the marker's own versions first when reversed). None: the
    end of `prefix`."""
    top = successor(prefix) if prefix else None
    if not key_marker or (top is not None and key_marker >= top):
        return None if top is None else Position(top)
    if marker_version is not None:
        return Position(key_marker, marker_version)
    return Position(key_marker, None, True)


class _VersionScan:
    def __init__(self, prefix: str, delimiter: str, limit: int, *, descending: bool = False) -> None:
        self.prefix = prefix
        self.descending = descending
        self.delimiter = delimiter
        self.limit = limit
        self.versions: list[VersionEntry] = []
        self.prefixes: list[str] = []
        #: The last entry taken: (key or prefix, exposed version id or None for a prefix).
        self.last: tuple[str, str | None] | None = None
        self.truncated = False

    def count(self) -> int:
        return len(self.versions) + len(self.prefixes)

    def feed(self, rows: Iterable[VersionRow], position: Position | None, limit: int) -> Position | None:
        """Take rows until the page is full; returns where to fetch next (None: done)."""
        wanted = limit - self.count() + 1
        fetched = 0
        for row in rows:
            fetched += 1
            if self.count() >= self.limit:
                self.truncated = True
                return None
            rolled = _common_prefix(row.entry.key, self.prefix, self.delimiter)
            if rolled is not None:
                self.prefixes.append(rolled)
                self.last = (rolled, None)
                return self._past(rolled)
            self.versions.append(row.entry)
            self.last = (row.entry.key, row.entry.version_id)
            position = Position(row.entry.key, row.version)
        return position if fetched >= wanted else None

    def _past(self, rolled: str) -> Position | None:
        """Where the scan goes on after a common prefix: beyond every key that starts with it."""
        if self.descending:
            return Position(rolled)
        after = successor(rolled)
        return None if after is None else Position(after, None, True)

    def result(self) -> VersionListing:
        key_marker, version_marker = self.last if (self.truncated and self.last) else (None, None)
        return VersionListing(self.versions, self.prefixes, self.truncated, key_marker, version_marker)


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter or not key.startswith(prefix):
        return None
    found = key.find(delimiter, len(prefix))
    return None if found < 0 else key[: found + len(delimiter)]
