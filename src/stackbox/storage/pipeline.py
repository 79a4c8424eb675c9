"""Work on a streamed body (hashing, writing) done in worker threads, overlapping with receiving.

A request body arrives in network-sized pieces on the event loop. Hashing and writing them there
would serialize everything on one core; instead, pieces are handed over in batches to a worker
thread (hashlib, awscrt and os.writev release the GIL), while the loop receives the next ones.
Separate instances (the signature's SHA-256, the engine's MD5, the file writes) run on different
cores at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

#: Pieces go to a worker thread once this many bytes have accumulated; bodies smaller than this
#: (and the tail of every body) are handled inline, where a thread hop would cost more.
BACKGROUND_BATCH = 1 << 20


class BackgroundBatches:
    """Hands pieces, in order and in batches, to `handle`, which runs in a worker thread.

    One batch at a time is in flight: `add` waits for the previous batch before handing over the
    next, so a body that arrives faster than it is handled is slowed down instead of buffered, and
    at most two batches are held in memory.
    """

    __slots__ = ("_batch", "_handle", "_inline_tail", "_pending", "_pending_bytes", "_running")

    def __init__(self, handle: Callable[[list[bytes]], None], batch: int | None = None, *,
                 inline_tail: bool = True) -> None:
        """`inline_tail=False`: the last batch too goes to a worker thread (for a `handle` that may
        wait on the network)."""
        self._handle = handle
        self._inline_tail = inline_tail
        self._batch = BACKGROUND_BATCH if batch is None else batch
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._running: asyncio.Future[None] | None = None

    async def add(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_bytes += len(piece)
        if self._pending_bytes >= self._batch:
            pieces = self._take()
            await self.wait()
            self._running = asyncio.get_running_loop().run_in_executor(None, self._handle, pieces)

    async def wait(self) -> None:
        """Returns once the batch in flight (if any) is handled; errors it raised surface here."""
        running = self._running
        if running is not None:
            # Shielded: a caller cancelled meanwhile leaves the batch in `_running` (its thread goes
            # on), so that `settle` and `abandon` still wait for it.
            await asyncio.shield(running)
            self._running = None

    async def finish(self) -> None:
        """Returns once every piece added has been handled."""
        await self.wait()
        if self._pending and self._inline_tail:
            self._handle(self._take())
        elif self._pending:
            self._running = asyncio.get_running_loop().run_in_executor(None, self._handle, self._take())
            await self.wait()

    async def settle(self) -> None:
        """Returns once the batch in flight (if any) has finished, without raising its error."""
        if self._running is not None:
            await asyncio.wait([self._running])

    def cancel(self) -> None:
        """Stop waiting for the batch in flight (the body is being abandoned)."""
        self.abandon(lambda: None)

    def abandon(self, then: Callable[[], None]) -> None:
        """Stop waiting for the batch in flight, and call `then` once it has finished (a thread
        cannot be stopped: e.g. the file it writes to must stay open until then)."""
        running, self._running = self._running, None
        if running is None or running.done():
            _consume(running)
            then()
        else:
            running.add_done_callback(partial(_consume_then, then=then))

    def _take(self) -> list[bytes]:
        pieces, self._pending, self._pending_bytes = self._pending, [], 0
        return pieces


def background_hashing(update: Callable[[bytes], None], batch: int | None = None) -> BackgroundBatches:
    """Feeds every piece to `update` (a hasher's), in batches in a worker thread."""
    def update_all(pieces: list[bytes]) -> None:
        for piece in pieces:
            update(piece)
    return BackgroundBatches(update_all, batch)


def _consume(future: asyncio.Future[None] | None) -> None:
    """Retrieve the outcome nobody waits for any more (asyncio would log it as never retrieved)."""
    if future is not None and not future.cancelled():
        future.exception()


def _consume_then(future: asyncio.Future[None], then: Callable[[], None]) -> None:
    _consume(future)
    then()
