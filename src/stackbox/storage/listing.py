"""One listing algorithm for objects, containers and uploads: a page costs O(page), not O(keys).

Keys are compared in code point order, which is the binary UTF-8 order S3 and Swift list in (and
SQLite's BINARY collation of UTF-8 text). With a delimiter, every key under a common prefix rolls
up into that prefix; instead of reading those keys, the scan seeks past the whole prefix range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)
#: Rows skipped inside one common prefix before the scan re-seeks past it instead.
_SKIP_BEFORE_SEEK = 16


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix` (None: no such string)."""
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop
        if code <= _MAX_CODE_POINT:
            return "".join(chars) + chr(code)
    return None


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Keys strictly inside (lower, upper), or with `lower_inclusive`, lower <= key. None = unbounded."""

    lower: str | None = None
    lower_inclusive: bool = False
    upper: str | None = None

    def above(self, key: str, inclusive: bool) -> KeyRange:
        return KeyRange(key, inclusive, self.upper)

    def below(self, key: str) -> KeyRange:
        return KeyRange(self.lower, self.lower_inclusive, key)


#: fetch(range, reverse, count) -> up to `count` items in range, ascending (or descending if reverse).
#: Should be lazy (e.g. a database cursor): the scan stops reading as soon as it seeks elsewhere.
Fetch = Callable[[KeyRange, bool, int], Iterable[T]]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    #: Entries in listing order: an item, or a common prefix string.
    entries: list[T | str]
    truncated: bool

    def next_marker(self, key_of: Callable[[T], str]) -> str | None:
        if not self.truncated or not self.entries:
            return None
        last = self.entries[-1]
        return last if isinstance(last, str) else key_of(last)


def initial_range(prefix: str, delimiter: str, marker: str, end_marker: str,
                  reverse: bool) -> KeyRange | None:
    """The key range a listing covers; None when it is empty. `marker` is exclusive and, in
    reverse listings, the upper bound (Swift's convention); `end_marker` is the exclusive other end."""
    lower, lower_inclusive = (prefix, True) if prefix else (None, False)
    upper = successor(prefix) if prefix else None
    start, stop = (end_marker, marker) if reverse else (marker, end_marker)
    if start and (lower is None or start >= lower):
        lower, lower_inclusive = start, False
        rolled = _common_prefix(start, prefix, delimiter)
        if rolled is not None and not reverse:
            # The marker is (or lies under) a prefix already returned: resume after all of it.
            after = successor(rolled)
            if after is None:
                return None
            lower, lower_inclusive = after, True
    if stop and (upper is None or stop < upper):
        upper = stop
    if lower is not None and upper is not None and lower >= upper:
        return None
    return KeyRange(lower, lower_inclusive, upper)


def list_page(fetch: Fetch[T], key_of: Callable[[T], str], *, prefix: str = "", delimiter: str = "",
              marker: str = "", end_marker: str = "", limit: int = 1000, reverse: bool = False) -> Page[T]:
    key_range = initial_range(prefix, delimiter, marker, end_marker, reverse)
    if key_range is None or limit <= 0:
        return Page([], False)
    scan = _Scan(fetch, key_of, prefix, delimiter, reverse, limit + 1)
    scan.run(key_range)
    entries = scan.entries
    return Page(entries[:limit], len(entries) > limit)


class _Scan(Generic[T]):
    def __init__(self, fetch: Fetch[T], key_of: Callable[[T], str], prefix: str, delimiter: str,
                 reverse: bool, wanted: int) -> None:
        self.fetch = fetch
        self.key_of = key_of
        self.prefix = prefix
        self.delimiter = delimiter
        self.reverse = reverse
        self.wanted = wanted
        self.entries: list[T | str] = []

    def run(self, key_range: KeyRange | None) -> None:
        while key_range is not None and len(self.entries) < self.wanted:
            key_range = self._batch(key_range)

    def _batch(self, key_range: KeyRange) -> KeyRange | None:
        """Consume one fetched batch; return the range still to scan (None when done)."""
        count = self.wanted - len(self.entries) + 1
        rows = self.fetch(key_range, self.reverse, count)
        rolled: str | None = None
        skipped = 0
        last = ""
        fetched = 0
        for row in rows:
            fetched += 1
            key = last = self.key_of(row)
            if rolled is not None and key.startswith(rolled):
                skipped += 1
                if skipped >= _SKIP_BEFORE_SEEK:
                    return self._past_prefix(key_range, rolled)
                continue
            rolled = _common_prefix(key, self.prefix, self.delimiter)
            skipped = 0
            self.entries.append(row if rolled is None else rolled)
            if len(self.entries) >= self.wanted:
                return None
        if fetched < count:
            return None
        if rolled is not None:
            return self._past_prefix(key_range, rolled)
        return key_range.below(last) if self.reverse else key_range.above(last, False)

    def _past_prefix(self, key_range: KeyRange, rolled: str) -> KeyRange | None:
        if self.reverse:
            return key_range.below(rolled)
        after = successor(rolled)
        return None if after is None else key_range.above(after, True)


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    found = key.find(delimiter, len(prefix))
    if found < 0 or not key.startswith(prefix):
        return None
    return key[: found + len(delimiter)]
