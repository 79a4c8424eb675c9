"""The seam between the storage engine and where object data lives: the `BlobBackend` protocol.

A blob is written once by one `BlobWriter` and never modified after; objects reference byte ranges
of blobs, and which blobs are in use is the metadata's business (references, freed blobs, grace
periods). A backend only stores, reads, deletes and lists blobs. Implementations: local files
(`file_blobs.FileBlobs`, over `blobs.BlobStore`) and Ceph RADOS (`rados_blobs.RadosBlobs`).

Every method may block (disk or network I/O). The engine calls a `remote` backend only from worker
threads, never on the event loop; the file backend's short calls (an open, a pread from the page
cache, an unlink) stay inline where that measured faster (see `engine.THREAD_READ_MIN`). A writer is
used by one thread at a time; the backend itself by many at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

#: Reads yield chunks of at most this many bytes unless the caller asks for another size.
READ_CHUNK = 1 << 20


@runtime_checkable
class BlobWriter(Protocol):
    """One blob being written: `write` any number of times, then exactly one of `commit` or `abort`.

    Until `commit` returns, the blob is invisible to `read` and `scan`. If `write` or `commit`
    raises, the caller still calls `abort`, which must leave nothing behind; `abort` after a
    failed `commit` (or a second `abort`) is harmless, after a successful one it does nothing (the
    blob is the metadata's from then on: `BlobBackend.delete` removes it).
    """

    @property
    def blob_id(self) -> str: ...

    @property
    def size(self) -> int:
        """Bytes written so far."""

    def write(self, data: bytes | memoryview) -> None: ...

    def write_all(self, pieces: Sequence[bytes | memoryview]) -> None:
        """Append `pieces` in order (one call per batch: fewer system calls or round trips)."""

    def flush(self) -> None:
        """Start making what was written so far durable, so that `commit` has less left to do (it
        may do nothing). Called now and then from another thread while writes go on."""

    def commit(self) -> None:
        """Make the blob durable and visible under `blob_id`."""

    def abort(self) -> None:
        """Remove everything this writer stored."""


@runtime_checkable
class BlobBackend(Protocol):
    #: Blobs live on the network, shared with other nodes: every call takes a round trip (the
    #: engine never makes one on the event loop), and recovery only removes what is old enough
    #: that no other node can still be committing it. False: local files, read inline.
    remote: bool

    def open_writer(self) -> BlobWriter: ...

    def read(self, blob_id: str, offset: int, length: int, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """The bytes [offset, offset + length) of a committed blob, streamed in chunks of at most
        `chunk_size`. Raises `DataUnavailable` (possibly after some chunks) when the blob is
        missing or shorter than the range."""

    def size(self, blob_id: str) -> int:
        """The length of a committed blob; `DataUnavailable` if there is none."""

    def written_at(self, blob_id: str) -> float:
        """When a committed blob was written (a UNIX time); `DataUnavailable` if there is none."""

    def delete(self, blob_id: str) -> None:
        """Remove a committed blob entirely; a blob that is already gone is not an error."""

    def scan(self) -> Iterator[str]:
        """The id of every committed blob (garbage collection compares them with the metadata)."""

    def collect_unfinished(self, older_than: float) -> int:
        """Remove what writers that neither committed nor aborted (a crashed process) left behind,
        untouched since `older_than` (a UNIX time: writers still running must not lose their
        data); returns how many writes were cleaned up."""

    def check_room(self, incoming: int = 0) -> None:
        """Raise `InsufficientStorage` unless `incoming` more bytes leave the configured reserve free."""

    def close(self) -> None: ...


def open_backend(url: str, data_dir: Path, *, fsync: bool = True, reserve_bytes: int = 0) -> BlobBackend:
    """The backend `url` names: `file` (blobs under `data_dir`), or `rados://POOL?conf=PATH&id=USER&namespace=NS`
    (connects now: call it in each process, after forking). ValueError for any other URL."""
    if url == "file":
        from stackbox.storage.file_blobs import FileBlobs

        return FileBlobs(data_dir, fsync=fsync, reserve_bytes=reserve_bytes)
    if url.startswith("rados:"):
        from stackbox.storage.rados_blobs import RadosBlobs

        return RadosBlobs.from_url(url, reserve_bytes=reserve_bytes)
    raise ValueError(f"unknown blob backend {url!r}: expected 'file' or 'rados://POOL?conf=PATH&id=USER'")


def check_backend_url(url: str) -> None:
    """ValueError unless `url` names a blob backend (without connecting to it)."""
    if url == "file":
        return
    if url.startswith("rados:"):
        from stackbox.storage.rados_blobs import RadosTarget

        RadosTarget.parse(url)
        return
    raise ValueError(f"unknown blob backend {url!r}: expected 'file' or 'rados://POOL?conf=PATH&id=USER'")
