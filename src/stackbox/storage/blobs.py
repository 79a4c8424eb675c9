"""Immutable blobs as files: `DATA_DIR/blobs/ab/cd/<id>`, written via `DATA_DIR/tmp/<id>`.

A blob is written once into a temp file, fsynced, renamed into place, and never modified after;
objects reference byte ranges of blobs. Which blobs are in use is the metadata's business: this
module only stores, reads and deletes files, so another blob backend can replace it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from stackbox.storage.space import free_bytes, private_dir
from stackbox.storage.types import DataUnavailable, InsufficientStorage

CHUNK_SIZE = 1 << 20
_MAX_IOVECS = 1024  # IOV_MAX on Linux


class TempBlob:
    """A blob being written. `BlobStore.publish` makes it permanent, `discard` removes it."""

    __slots__ = ("blob_id", "fd", "path", "size")

    def __init__(self, blob_id: str, path: Path) -> None:
        self.blob_id = blob_id
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.size += len(data)

    def write_all(self, pieces: Sequence[bytes | memoryview]) -> None:
        """Append `pieces` with as few system calls as possible (no joining copy)."""
        views = [memoryview(piece) for piece in pieces if piece]
        while views:
            written = os.writev(self.fd, views[:_MAX_IOVECS])
            self.size += written
            while views and written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            if written:
                views[0] = views[0][written:]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class BlobStore:
    def __init__(self, data_dir: Path, *, fsync: bool = True, reserve_bytes: int = 0) -> None:
        self.root = data_dir / "blobs"
        self.tmp = data_dir / "tmp"
        self.fsync = fsync
        #: Free space new data must leave on the file system (see `check_room`).
        self.reserve_bytes = reserve_bytes
        private_dir(self.root)
        private_dir(self.tmp)
        self._known_dirs: set[str] = set()

    def check_room(self, incoming: int = 0) -> None:
        """Raise InsufficientStorage unless `incoming` more bytes leave the reserve free."""
        if free_bytes(self.root) - incoming < self.reserve_bytes:
            raise InsufficientStorage(f"less than {self.reserve_bytes} bytes would stay free")

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def path(self, blob_id: str) -> Path:
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id

    def create(self) -> TempBlob:
        blob_id = self.new_id()
        return TempBlob(blob_id, self.tmp / blob_id)

    def publish(self, temp: TempBlob) -> None:
        """Make a finished temp blob durable and visible under its id."""
        try:
            if self.fsync:
                os.fsync(temp.fd)
        finally:
            temp.close()
        final = self.path(temp.blob_id)
        self._ensure_dir(final.parent)
        os.rename(temp.path, final)
        if self.fsync:
            _fsync_dir(final.parent)

    def discard(self, temp: TempBlob) -> None:
        temp.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp.path)

    def delete(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(blob_id))

    def stat(self, blob_id: str) -> os.stat_result:
        try:
            return os.stat(self.path(blob_id))
        except FileNotFoundError:
            raise DataUnavailable(blob_id) from None

    def read(self, blob_id: str, offset: int, length: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The bytes [offset, offset + length) of a blob, in chunks of at most `chunk_size`."""
        try:
            fd = os.open(self.path(blob_id), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise DataUnavailable(blob_id) from None
        try:
            end = offset + length
            while offset < end:
                data = os.pread(fd, min(chunk_size, end - offset), offset)
                if not data:
                    raise DataUnavailable(f"{blob_id} is shorter than expected")
                offset += len(data)
                yield data
        finally:
            os.close(fd)

    def stored_ids(self) -> Iterator[str]:
        """Every blob id that has a file (for recovery's comparison with the metadata)."""
        for level1 in _subdirs(self.root):
            for level2 in _subdirs(level1):
                with os.scandir(level2) as entries:
                    yield from (entry.name for entry in entries if entry.is_file())

    def clear_temp(self) -> int:
        """Remove every temp file (only safe while no process writes); returns how many."""
        removed = 0
        with os.scandir(self.tmp) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def _ensure_dir(self, directory: Path) -> None:
        key = str(directory)
        if key not in self._known_dirs:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._known_dirs.add(key)


def _subdirs(path: Path) -> list[Path]:
    with os.scandir(path) as entries:
        return [Path(entry.path) for entry in entries if entry.is_dir()]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
