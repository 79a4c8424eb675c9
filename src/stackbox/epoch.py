"""A counter shared by every worker process, to invalidate per-worker caches at once.

Each worker caches what it looks up on every request (EC2 secrets, derived signing keys, validated
tokens). Whenever identity data changes (a credential is deleted, a role is removed, a user is
disabled...), the writer bumps this counter; every reader compares it with the value its cache was
filled under before trusting the cache. Reading is one load from a shared memory map, so the check
is cheap enough for every request, and a deleted credential stops working in every worker at once.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_FORMAT = "<Q"
_SIZE = struct.calcsize(_FORMAT)
_UNPACK = struct.Struct(_FORMAT).unpack_from


def map_shared(path: Path | str, size: int) -> mmap.mmap:
    """A 0600 file of at least `size` bytes, mapped shared (every process mapping it sees each write)."""
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size < size:
            os.ftruncate(fd, size)
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


class SharedCounter:
    def __init__(self, path: Path | str) -> None:
        self._map = map_shared(path, _SIZE)
        self._lock_path = f"{path}.lock"

    def value(self) -> int:
        value: int = _UNPACK(self._map, 0)[0]
        return value

    #: The stored value, also where a subclass's `value` answers something else.
    _load = value

    def bump(self) -> int:
        """Increment atomically across processes and return the new value."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            new = self._load() + 1
            struct.pack_into(_FORMAT, self._map, 0, new)
            return new
        finally:
            os.close(fd)


class EpochCache(Generic[K, V]):
    """A dict that empties itself whenever the shared counter has moved since it was filled."""

    def __init__(self, counter: SharedCounter, max_entries: int = 100_000) -> None:
        self._counter = counter
        self._epoch = counter.value()
        self._entries: dict[K, V] = {}
        self._max = max_entries

    def _fresh(self) -> dict[K, V]:
        current = self._counter.value()
        if current != self._epoch:
            self._entries.clear()
            self._epoch = current
        return self._entries

    def get(self, key: K) -> V | None:
        current = self._counter.value()  # _fresh(), inline: every cached lookup of a request passes here
        if current != self._epoch:
            self._entries.clear()
            self._epoch = current
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        entries = self._fresh()
        if len(entries) >= self._max:
            entries.clear()
        entries[key] = value

    def clear(self) -> None:
        self._entries.clear()
