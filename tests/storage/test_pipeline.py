"""Hashing and writing a body in worker threads keeps the order of its pieces and surfaces errors."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path

import pytest

from stackbox.storage.blobs import BlobStore
from stackbox.storage.pipeline import BackgroundBatches, background_hashing

PIECES = [os.urandom(size) for size in (1, 70_000, 3, 200_000, 0, 65_536, 17) * 5]


@pytest.mark.parametrize("batch", [1, 100_000, 1 << 40])
async def test_hashing_in_batches_equals_hashing_inline(batch: int) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    hashing = background_hashing(digest.update, batch)
    for piece in PIECES:
        await hashing.add(piece)
    await hashing.finish()
    assert digest.hexdigest() == hashlib.md5(b"".join(PIECES), usedforsecurity=False).hexdigest()


async def test_large_batches_run_off_the_event_loop() -> None:
    threads: set[int] = set()
    batches = BackgroundBatches(lambda pieces: threads.add(threading.get_ident()), 100)
    await batches.add(b"x" * 100)
    await batches.finish()
    assert threads and threading.get_ident() not in threads


async def test_an_error_in_a_batch_surfaces_at_the_next_wait() -> None:
    def fail(pieces: list[bytes]) -> None:
        raise OSError("disk full")

    batches = BackgroundBatches(fail, 10)
    await batches.add(b"x" * 10)
    with pytest.raises(OSError, match="disk full"):
        await batches.finish()


def test_write_all_writes_every_piece_in_order(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    temp = store.create()
    many = [bytes([index % 251]) * (index % 7) for index in range(3000)]  # more than IOV_MAX pieces
    temp.write_all(many)
    temp.write_all(PIECES)
    store.publish(temp)
    expected = b"".join(many + PIECES)
    assert temp.size == len(expected)
    assert b"".join(store.read(temp.blob_id, 0, len(expected))) == expected


async def test_abandon_runs_its_follow_up_only_after_the_batch_in_flight() -> None:
    release = threading.Event()
    events: list[str] = []

    def slow(pieces: list[bytes]) -> None:
        release.wait(5)
        events.append("handled")

    batches = BackgroundBatches(slow, 1)
    await batches.add(b"x")
    batches.abandon(lambda: events.append("closed"))
    await asyncio.sleep(0.05)
    assert events == []
    release.set()
    for _ in range(1000):  # the batch thread runs in its own time (slow under load)
        if len(events) == 2:
            break
        await asyncio.sleep(0.01)
    assert events == ["handled", "closed"]
