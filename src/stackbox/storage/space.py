"""Free space and owner-only files: a full disk is an answer (InsufficientStorage), never a crash.

Object data stays clear of a reserve of free space, so that metadata commits, deletes and start-up
recovery (which only ever free space) still succeed when uploads have filled the disk. Whatever
still runs out of space (another process filled the disk) raises `InsufficientStorage`.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stackbox.storage.types import InsufficientStorage

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
SQLITE_FULL = sqlite3.SQLITE_FULL
#: Suffixes of the files SQLite keeps next to a database, and of our commit lock.
DATABASE_FILES = ("", "-wal", "-shm", "-commit.lock")


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding `path`."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC/EDQUOT, or SQLite's SQLITE_FULL, also as the cause of another error (SQLite rolls a
    transaction back by itself on a full disk, so our ROLLBACK fails and hides the original)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_FULL_ERRNOS:
            return True
        if isinstance(seen, sqlite3.Error) and getattr(seen, "sqlite_errorcode", 0) & 0xFF == SQLITE_FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def as_insufficient_storage(error: BaseException) -> BaseException:
    """`error`, or InsufficientStorage in its place when it means the disk is full."""
    if isinstance(error, InsufficientStorage) or not is_disk_full(error):
        return error
    replacement = InsufficientStorage("no space left on the data dir's file system")
    replacement.__cause__ = error
    return replacement


@contextmanager
def disk_full_refused() -> Iterator[None]:
    """Re-raise a full disk anywhere inside as InsufficientStorage."""
    try:
        yield
    except Exception as error:
        replacement = as_insufficient_storage(error)
        if replacement is error:
            raise
        raise replacement from error


def private_dir(path: Path) -> None:
    """Create `path` (and parents) if needed; it, not only a new one, ends up owner-only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_database(path: Path) -> None:
    """Create the database file owner-only before SQLite does (SQLite gives its WAL and shared-memory
    files the database's mode), and make those of an existing one owner-only."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    for suffix in DATABASE_FILES:
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            os.chmod(candidate, 0o600)
