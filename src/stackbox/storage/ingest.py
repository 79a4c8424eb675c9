"""Receiving a streamed body: hash it, keep it in memory if small, else write it to a temp blob.

Nothing here touches the metadata: the caller commits the result (or discards it on any error).
A body of at most `inline_limit` bytes stays in memory and is stored inline in the metadata row;
anything larger goes to a temp file that `BlobStore.publish` makes durable and permanent.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

from stackbox.storage.blobs import BlobStore, TempBlob
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
#: With fsync on, data is flushed in the background every this many bytes, so that the final fsync
#: before the rename has little left to write (measured: +20% PUT throughput on 64 MiB objects).
BACKGROUND_SYNC_BYTES = 8 << 20
#: A large body checks every this many bytes that it still leaves the reserve of free space.
ROOM_CHECK_BYTES = 4 << 20


@dataclass(slots=True)
class Received:
    size: int
    md5_hex: str
    checksums: dict[str, str]
    inline: bytes | None
    temp: TempBlob | None


async def receive(blobs: BlobStore, body: AsyncIterator[bytes], checks: WriteChecks,
                  inline_limit: int = INLINE_LIMIT, data_key: bytes | None = None) -> Received:
    """Consume `body`, verify it against `checks` and return where it is (temp blob not yet published).
    With `data_key` the body is always a blob (an empty one too), written encrypted (see `sealing.py`);
    hashes and checksums are the plaintext's.

    On any exception the temp file is already removed. Raises InsufficientStorage before reading
    when the declared length would eat into the reserve of free space, and while reading when the
    disk fills up.
    """
    blobs.check_room(checks.length or 0)
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
            return Received(digests.length, digests.md5_hex(), checksums, sink.inline(), sink.temp)
        except BaseException:
            await sink.discard()
            raise


class _Sink:
    """Where received bytes go: hashed, and kept in memory until the body outgrows the inline limit;
    from then on written to a temp blob. Large bodies are hashed and written in worker threads."""

    def __init__(self, blobs: BlobStore, digests: BodyDigests, inline_limit: int,
                 data_key: bytes | None = None) -> None:
        self.blobs = blobs
        self.data_key = data_key
        self.encryptor: Encryptor | None = None
        self.hashing = background_hashing(digests.update)
        self.writing: BackgroundBatches | None = None
        self.inline_limit = inline_limit
        self.received = 0
        self.buffer: list[bytes] = []
        self.temp: TempBlob | None = None
        self.syncing: asyncio.Future[None] | None = None
        self.unsynced = 0
        self.unchecked = 0

    async def add(self, chunk: bytes) -> None:
        await self.hashing.add(chunk)
        self.received += len(chunk)
        self.buffer.append(chunk)
        if self.temp is None and self.received <= self.inline_limit:
            return
        temp = self.temp if self.temp is not None else self._open_temp()
        assert self.writing is not None
        for piece in self.buffer:
            await self.writing.add(piece)
        self.buffer = []
        self.unsynced += len(chunk)
        self.unchecked += len(chunk)
        if self.unchecked >= ROOM_CHECK_BYTES:
            self.unchecked = 0
            self.blobs.check_room()
        if self.blobs.fsync and self.unsynced >= BACKGROUND_SYNC_BYTES:
            await self._background_sync(temp)

    def _open_temp(self) -> TempBlob:
        self.temp = temp = self.blobs.create()
        self.writing = BackgroundBatches(self._writer(temp))
        return temp

    def _writer(self, temp: TempBlob) -> Callable[[list[bytes]], None]:
        """What writes pieces to the temp blob (in a worker thread): as they are, or encrypted."""
        if self.data_key is None:
            return temp.write_all
        encryptor = self.encryptor = Encryptor(self.data_key)

        def write_encrypted(pieces: list[bytes]) -> None:
            temp.write_all(encryptor.feed(pieces))
        return write_encrypted

    async def _background_sync(self, temp: TempBlob) -> None:
        if self.syncing is not None:
            await self.syncing
        self.unsynced = 0
        self.syncing = asyncio.get_running_loop().run_in_executor(None, os.fdatasync, temp.fd)

    async def flush(self) -> None:
        """Wait for everything running in the background."""
        if self.temp is None and self.received > self.inline_limit:
            self._open_temp()  # an empty body that must still be a blob (a multipart part)
        await self.hashing.finish()
        if self.writing is not None:
            await self.writing.finish()
        if self.encryptor is not None and self.temp is not None:
            self.temp.write_all(self.encryptor.finish())
            self.encryptor = None
        if self.syncing is not None:
            syncing, self.syncing = self.syncing, None
            await syncing

    def inline(self) -> bytes | None:
        return None if self.temp is not None else b"".join(self.buffer)

    async def discard(self) -> None:
        """Remove the temp blob; returns once it is gone (unless cancelled while waiting)."""
        self.hashing.cancel()
        if self.syncing is not None:
            self.syncing.cancel()
        temp, writing = self.temp, self.writing
        if temp is None:
            return
        if writing is None:
            self.blobs.discard(temp)
            return
        # Closing the file while a thread still writes to it could send the data to whatever file
        # reuses the descriptor number: it is closed once that write has finished.
        try:
            await writing.settle()
        finally:
            writing.abandon(partial(self.blobs.discard, temp))


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
