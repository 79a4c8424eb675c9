"""Receiving a streamed body: hash it, keep it in memory if small, else write it to a new blob.

Nothing here touches the metadata: the caller commits the result (or discards it on any error).
A body of at most `inline_limit` bytes stays in memory and is stored inline in the metadata row;
anything larger goes to a `BlobWriter` of the blob backend, which the caller commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

from stackbox.storage.blob_backend import BlobBackend, BlobWriter
from stackbox.storage.checksums import BodyDigests
from stackbox.storage.pipeline import BackgroundBatches, background_hashing
from stackbox.storage.sealing import Encryptor
from stackbox.storage.space import disk_full_refused
from stackbox.storage.types import (
    BadDigest,
    ChecksumMismatch,
    EntityTooLarge,
    IncompleteBody,
    WriteChecks,
)

#: Bodies up to this size are stored in the metadata row (see bench/storage_engine.py).
INLINE_LIMIT = 64 * 1024
#: Written data is flushed in the background every this many bytes (`BlobWriter.flush`), so that
#: the commit has little left to do (files: +20% PUT throughput on 64 MiB objects).
BACKGROUND_SYNC_BYTES = 8 << 20
#: A large body checks every this many bytes that it still leaves the reserve of free space.
ROOM_CHECK_BYTES = 4 << 20


@dataclass(slots=True)
class Received:
    size: int
    md5_hex: str
    checksums: dict[str, str]
    inline: bytes | None
    #: The written blob, not yet committed (None for an inline body).
    writer: BlobWriter | None


async def receive(blobs: BlobBackend, body: AsyncIterator[bytes], checks: WriteChecks,
                  inline_limit: int = INLINE_LIMIT, data_key: bytes | None = None) -> Received:
    """Consume `body`, verify it against `checks` and return where it is (a blob not yet committed).
    With `data_key` the body is always a blob (an empty one too), written encrypted (see `sealing.py`);
    hashes and checksums are the plaintext's.

    On any exception the blob is already aborted. Raises InsufficientStorage while reading when the
    blob backend fills up (the caller checks the declared length before).
    """
    digests = BodyDigests([name for name in _algorithms(checks) if name not in checks.provided_algorithms])
    sink = _Sink(blobs, digests, inline_limit if data_key is None else -1, data_key)
    received = 0
    with disk_full_refused():
        try:
            async for chunk in body:
                received += len(chunk)
                if checks.max_length is not None and received > checks.max_length:
                    raise EntityTooLarge(f"body exceeds {checks.max_length} bytes")
                await sink.add(chunk)
            await sink.flush()
            checksums = _checksums(digests, checks)
            _verify(digests, checksums, checks)
            return Received(digests.length, digests.md5_hex(), checksums, sink.inline(), sink.writer)
        except BaseException:
            await sink.discard()
            raise


class _Sink:
    """Where received bytes go: hashed, and kept in memory until the body outgrows the inline limit;
    from then on written to a blob. Large bodies are hashed and written in worker threads."""

    def __init__(self, blobs: BlobBackend, digests: BodyDigests, inline_limit: int,
                 data_key: bytes | None = None) -> None:
        self.blobs = blobs
        self.data_key = data_key
        self.encryptor: Encryptor | None = None
        self.hashing = background_hashing(digests.update)
        self.writing: BackgroundBatches | None = None
        self.inline_limit = inline_limit
        self.received = 0
        self.buffer: list[bytes] = []
        self.writer: BlobWriter | None = None
        self.syncing: asyncio.Future[None] | None = None
        self.unsynced = 0
        self.unchecked = 0

    async def add(self, chunk: bytes) -> None:
        await self.hashing.add(chunk)
        self.received += len(chunk)
        self.buffer.append(chunk)
        if self.writer is None and self.received <= self.inline_limit:
            return
        writer = self.writer if self.writer is not None else self._open_writer()
        assert self.writing is not None
        for piece in self.buffer:
            await self.writing.add(piece)
        self.buffer = []
        self.unsynced += len(chunk)
        self.unchecked += len(chunk)
        if self.unchecked >= ROOM_CHECK_BYTES:
            self.unchecked = 0
            await self._check_room()
        if self.unsynced >= BACKGROUND_SYNC_BYTES:
            await self._background_flush(writer)

    def _open_writer(self) -> BlobWriter:
        self.writer = writer = self.blobs.open_writer()
        self.writing = BackgroundBatches(self._write_function(writer), inline_tail=not self.blobs.remote)
        return writer

    def _write_function(self, writer: BlobWriter) -> Callable[[list[bytes]], None]:
        """What writes pieces to the blob (in a worker thread): as they are, or encrypted."""
        if self.data_key is None:
            return writer.write_all
        encryptor = self.encryptor = Encryptor(self.data_key)

        def write_encrypted(pieces: list[bytes]) -> None:
            writer.write_all(encryptor.feed(pieces))
        return write_encrypted

    async def _check_room(self) -> None:
        if self.blobs.remote:  # a remote backend's free space is a network call
            await asyncio.to_thread(self.blobs.check_room)
        else:
            self.blobs.check_room()

    async def _background_flush(self, writer: BlobWriter) -> None:
        if self.syncing is not None:
            await self.syncing
        self.unsynced = 0
        self.syncing = asyncio.get_running_loop().run_in_executor(None, writer.flush)

    async def flush(self) -> None:
        """Wait for everything running in the background."""
        if self.writer is None and self.received > self.inline_limit:
            self._open_writer()  # an empty body that must still be a blob (a multipart part)
        await self.hashing.finish()
        if self.writing is not None:
            await self.writing.finish()
        if self.encryptor is not None and self.writer is not None:
            await self._write_tail(self.writer, self.encryptor.finish())
            self.encryptor = None
        if self.syncing is not None:
            syncing, self.syncing = self.syncing, None
            await syncing

    async def _write_tail(self, writer: BlobWriter, pieces: list[bytes]) -> None:
        if self.blobs.remote:  # may send a stripe
            await asyncio.to_thread(writer.write_all, pieces)
        else:
            writer.write_all(pieces)

    def inline(self) -> bytes | None:
        return None if self.writer is not None else b"".join(self.buffer)

    async def discard(self) -> None:
        """Abort the blob; returns once it is gone (unless cancelled while waiting)."""
        self.hashing.cancel()
        if self.syncing is not None:
            self.syncing.cancel()
        writer, writing = self.writer, self.writing
        if writer is None:
            return
        abort = writer.abort if not self.blobs.remote else partial(_abort_in_thread, writer)
        if writing is None:
            abort()
            return
        # Closing the file while a thread still writes to it could send the data to whatever file
        # reuses the descriptor number: it is closed once that write has finished.
        try:
            await writing.settle()
        finally:
            writing.abandon(abort)


def _abort_in_thread(writer: BlobWriter) -> None:
    """Abort a remote blob without waiting for it (it may take round trips; the caller may be
    cancelled): it runs to its end in a worker thread."""
    asyncio.get_running_loop().run_in_executor(None, writer.abort)


def _algorithms(checks: WriteChecks) -> list[str]:
    """The requested algorithms, plus those of expected values known up front."""
    wanted = list(checks.algorithms)
    if not callable(checks.expected_checksums):
        wanted += [name for name in checks.expected_checksums if name not in wanted]
    return wanted


def _checksums(digests: BodyDigests, checks: WriteChecks) -> dict[str, str]:
    """The extra checksums of the body: computed here, or provided by the caller."""
    checksums = digests.values()
    if checks.provided_algorithms:
        provided = checks.provided_checksums() if checks.provided_checksums is not None else {}
        missing = set(checks.provided_algorithms) - set(provided)
        if missing:
            raise ValueError(f"the caller did not provide the {sorted(missing)} checksums it announced")
        checksums.update({name: provided[name] for name in checks.provided_algorithms})
    return checksums


def _verify(digests: BodyDigests, computed: dict[str, str], checks: WriteChecks) -> None:
    if checks.length is not None and digests.length != checks.length:
        raise IncompleteBody(checks.length, digests.length)
    if checks.md5_hex is not None and checks.md5_hex.lower() != digests.md5_hex():
        raise BadDigest("the body's MD5 differs from the declared one")
    expected = checks.expected_checksums
    if callable(expected):
        expected = expected()
    for algorithm, value in expected.items():
        if computed.get(algorithm) != value:
            raise ChecksumMismatch(algorithm)
