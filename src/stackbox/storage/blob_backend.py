"""The seam between the storage engine and where object data lives: the `BlobBackend` protocol.

A blob is written once by one `BlobWriter` and never modified after; objects reference byte ranges
of blobs, and which blobs are in use is the metadata's business (references, freed blobs, grace
periods). A backend only stores, reads, deletes and lists blobs. Implementations: local files
(`file_blobs.FileBlobs`, over `blobs.BlobStore`) and Ceph RADOS (`rados_blobs.RadosBlobs`).

Every method may block (disk or network I/O): the engine calls them from worker threads, never on
the event loop. A writer is used by one thread at a time; the backend itself by many at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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

    def commit(self) -> None:
        """Make the blob durable and visible under `blob_id`."""

    def abort(self) -> None:
        """Remove everything this writer stored."""


@runtime_checkable
class BlobBackend(Protocol):
    def open_writer(self) -> BlobWriter: ...

    def read(self, blob_id: str, offset: int, length: int, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """The bytes [offset, offset + length) of a committed blob, streamed in chunks of at most
        `chunk_size`. Raises `DataUnavailable` (possibly after some chunks) when the blob is
        missing or shorter than the range."""

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
