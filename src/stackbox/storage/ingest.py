"""Receiving a streamed body: hash it, keep it in memory if small, else write it to a temp blob.

Nothing here touches the metadata: the caller commits the result (or discards it on any error).
A body of at most `inline_limit` bytes stays in memory and is stored inline in the metadata row;
anything larger goes to a temp file that `BlobStore.publish` makes durable and permanent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from stackbox.storage.blobs import BlobStore, TempBlob
from stackbox.storage.checksums import BodyDigests
from stackbox.storage.types import (
    BadDigest,
    ChecksumMismatch,
    EntityTooLarge,
    IncompleteBody,
    WriteChecks,
)

#: Bodies up to this size are stored in the metadata row (see tests/storage/measure.py).
INLINE_LIMIT = 64 * 1024
#: Chunks at least this large are hashed and written in a worker thread: hashlib and os.write release
#: the GIL, so the event loop keeps receiving the next chunk meanwhile.
THREAD_MIN_CHUNK = 256 * 1024


@dataclass(slots=True)
class Received:
    size: int
    md5_hex: str
    checksums: dict[str, str]
    inline: bytes | None
    temp: TempBlob | None


async def receive(blobs: BlobStore, body: AsyncIterator[bytes], checks: WriteChecks,
                  inline_limit: int = INLINE_LIMIT) -> Received:
    """Consume `body`, verify it against `checks` and return where it is (temp blob not yet published).

    On any exception the temp file is already removed.
    """
    digests = BodyDigests(_algorithms(checks))
    sink = _Sink(blobs, digests, inline_limit)
    try:
        async for chunk in body:
            if checks.max_length is not None and digests.length + len(chunk) > checks.max_length:
                raise EntityTooLarge(f"body exceeds {checks.max_length} bytes")
            await sink.add(chunk)
        _verify(digests, checks)
        return Received(digests.length, digests.md5_hex(), digests.values(), sink.inline(), sink.temp)
    except BaseException:
        sink.discard()
        raise


class _Sink:
    def __init__(self, blobs: BlobStore, digests: BodyDigests, inline_limit: int) -> None:
        self.blobs = blobs
        self.digests = digests
        self.inline_limit = inline_limit
        self.buffer: list[bytes] = []
        self.temp: TempBlob | None = None

    async def add(self, chunk: bytes) -> None:
        if self.temp is None and self.digests.length + len(chunk) <= self.inline_limit:
            self.digests.update(chunk)
            self.buffer.append(chunk)
            return
        if self.temp is None:
            self.temp = self.blobs.create()
            self.temp.write(b"".join(self.buffer))
            self.buffer = []
        if len(chunk) >= THREAD_MIN_CHUNK:
            await asyncio.to_thread(self._hash_and_write, self.temp, chunk)
        else:
            self._hash_and_write(self.temp, chunk)

    def _hash_and_write(self, temp: TempBlob, chunk: bytes) -> None:
        self.digests.update(chunk)
        temp.write(chunk)

    def inline(self) -> bytes | None:
        return None if self.temp is not None else b"".join(self.buffer)

    def discard(self) -> None:
        if self.temp is not None:
            self.blobs.discard(self.temp)


def _algorithms(checks: WriteChecks) -> list[str]:
    """The requested algorithms, plus those of expected values known up front."""
    wanted = list(checks.algorithms)
    if not callable(checks.expected_checksums):
        wanted += [name for name in checks.expected_checksums if name not in wanted]
    return wanted


def _verify(digests: BodyDigests, checks: WriteChecks) -> None:
    if checks.length is not None and digests.length != checks.length:
        raise IncompleteBody(checks.length, digests.length)
    if checks.md5_hex is not None and checks.md5_hex.lower() != digests.md5_hex():
        raise BadDigest("the body's MD5 differs from the declared one")
    expected = checks.expected_checksums
    if callable(expected):
        expected = expected()
    computed = digests.values()
    for algorithm, value in expected.items():
        if computed.get(algorithm) != value:
            raise ChecksumMismatch(algorithm)
