"""The storage engine with its object data in Ceph RADOS (`Engine(..., blobs_url="rados://...")`).

A representative part of tests/storage runs here unchanged on a RADOS-backed engine (writes, ranged
reads, SSE, multipart, copies, versions: the tests imported below), on stripes made small (STRIPE) so
that objects, ranges and encrypted chunks straddle stripe boundaries. The tests written here are the
ones whose file-backend versions look at files, or expect deletes to be done when `collect_garbage`
returns (a remote backend deletes in the background): they look at the pool's objects instead and
wait for them to go. Each test has a namespace of its own, so the pool's listing is that test's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from backends.conftest import RadosPool
from stackbox.storage import sealing
from stackbox.storage.engine import Engine
from stackbox.storage.rados_blobs import RadosBlobs, parse_stripe_name, stripe_name
from stackbox.storage.types import (
    DataCorrupted,
    DataUnavailable,
    Encryption,
    IncompleteBody,
    ObjectAttrs,
    ObjectInfo,
    WriteChecks,
)
from storage.conftest import ACCOUNT, Clock, chunks, read_all
from storage.test_multipart import (  # noqa: F401  (collected here, on RADOS)
    test_a_part_uploaded_again_during_completion_is_noticed,
    test_complete_builds_the_object_without_copying,
    test_complete_rejects_bad_part_lists,
    test_multipart_checksums,
    test_part_verification,
    test_upload_part_copy_takes_a_range,
    upload_three,
)
from storage.test_objects import (  # noqa: F401
    test_checksums_verified_and_stored,
    test_if_none_match_loses_a_race_at_commit,
    test_manifest_object_spans_segments_without_copying,
    test_preconditions_are_atomic_with_the_write,
    test_ranges_across_chunk_boundaries,
    test_round_trip_keeps_data_and_attributes,
    test_small_objects_are_inline_and_large_ones_blobs,
)
from storage.test_recovery import check_acknowledged_writes_survived, check_nothing_partial_is_visible
from storage.test_sealing import (  # noqa: F401
    test_copies_keep_or_change_the_data_key,
    test_customer_keys,
    test_encrypted_segments_cannot_join_a_manifest,
)
from storage.test_versions import (  # noqa: F401
    test_copy_and_update_address_a_version,
    test_delete_marker_hides_the_object_and_deleting_it_restores,
    test_enabled_keeps_every_version_newest_first,
)

pytestmark = pytest.mark.cluster

#: The pools' stripe size in these tests: small and odd, so that 1 MiB reads, 64 KiB encrypted
#: chunks and multipart parts all cross stripe boundaries.
STRIPE = 100_003
BIG = os.urandom(5 * STRIPE + 11)
SSE_S3 = ObjectAttrs(encryption=Encryption("AES256"))
LAYOUT_OBJECT = "stackbox.blob-layout"
WRITER = Path(__file__).parents[1] / "storage" / "writer_process.py"


@pytest.fixture
def rados_url(rados_pool: RadosPool) -> str:
    """A fresh namespace whose blobs are striped every STRIPE bytes (the first client records it)."""
    namespace = rados_pool.namespace()
    RadosBlobs.connect(rados_pool.name, str(rados_pool.conf), namespace=namespace, stripe_size=STRIPE).close()
    return f"rados://{rados_pool.name}?conf={rados_pool.conf}&namespace={namespace}"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """tests/storage's clock (`time.time` moved forward on demand)."""
    moved = Clock()
    monkeypatch.setattr(time, "time", moved)
    return moved


@pytest.fixture
def engine(tmp_path: Path, rados_url: str) -> Iterator[Engine]:
    store = Engine(tmp_path / "data", blobs_url=rados_url)
    store.create_container(ACCOUNT, "box")
    yield store
    store.close()


def rados_of(engine: Engine) -> RadosBlobs:
    blobs = engine._blobs
    assert isinstance(blobs, RadosBlobs)
    return blobs


def pool_objects(engine: Engine) -> set[str]:
    return {entry.key for entry in rados_of(engine).ioctx.list_objects()} - {LAYOUT_OBJECT}


def stripes_of(engine: Engine, obj: ObjectInfo) -> set[str]:
    return {name for name in pool_objects(engine)
            if (parsed := parse_stripe_name(name)) is not None
            and parsed[0] in {extent.blob_id for extent in obj.extents}}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not the case after {timeout} s: {what}"
        time.sleep(0.05)


def collected(engine: Engine) -> bool:
    """Whether every freed blob's stripes are gone and the catalog forgot it (a GC pass per call)."""
    engine.collect_garbage(grace=0)
    return not engine._catalog.freed_blobs(time.time() + 1)


async def test_an_object_is_striped_and_its_stripes_go_after_garbage_collection(engine: Engine) -> None:
    obj = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG[:1000], BIG[1000:]))
    assert stripes_of(engine, obj) == {stripe_name(obj.extents[0].blob_id or "", index) for index in range(6)}
    engine.delete_object(ACCOUNT, "box", "k")
    wait_until(lambda: collected(engine), "the freed blob collected")
    assert pool_objects(engine) == set()
    with pytest.raises(DataUnavailable):
        await read_all(engine, obj)


async def test_copies_share_stripes_until_the_last_reference_goes(engine: Engine) -> None:
    source = await engine.put_object(ACCOUNT, "box", "src", chunks(BIG))
    copy = engine.copy_object(ACCOUNT, "box", "src", ACCOUNT, "box", "copy")
    stripes = stripes_of(engine, source)
    engine.delete_object(ACCOUNT, "box", "src")
    assert engine.collect_garbage(grace=0) == 0
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "copy")) == BIG
    assert stripes_of(engine, copy) == stripes
    engine.delete_object(ACCOUNT, "box", "copy")
    wait_until(lambda: collected(engine), "the copy's blob collected")
    assert pool_objects(engine) == set()


async def failing_body(data: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), 65_536):
        yield data[offset:offset + 65_536]
        await asyncio.sleep(0)
    raise ConnectionResetError("client went away")


@pytest.mark.parametrize("size", [10, 70_000, len(BIG)])
async def test_an_interrupted_write_leaves_the_old_object_and_nothing_in_the_pool(engine: Engine,
                                                                                 size: int) -> None:
    old = await engine.put_object(ACCOUNT, "box", "k", chunks(b"o" * 200_000))
    kept = stripes_of(engine, old)
    with pytest.raises(ConnectionResetError):
        await engine.put_object(ACCOUNT, "box", "k", failing_body(BIG[:size]))
    with pytest.raises(IncompleteBody):
        await engine.put_object(ACCOUNT, "box", "k", chunks(BIG), checks=WriteChecks(length=len(BIG) + 1))
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "k")) == b"o" * 200_000
    wait_until(lambda: pool_objects(engine) == kept, "the aborted writes' stripes removed")


async def test_aborted_and_expired_uploads_leave_nothing(engine: Engine) -> None:
    upload_id, _ = await upload_three(engine)
    await upload_three(engine, "other")
    assert pool_objects(engine)
    engine.abort_upload(ACCOUNT, "box", upload_id)
    assert engine.expire_uploads(time.time() + 1) == 1
    wait_until(lambda: collected(engine), "the parts' blobs collected")
    assert pool_objects(engine) == set()


@pytest.mark.parametrize("size", [0, 1, sealing.CHUNK, STRIPE - 1, STRIPE, 3 * STRIPE + 17])
async def test_encrypted_objects_read_back_in_every_range(engine: Engine, size: int) -> None:
    data = os.urandom(size)
    obj = await engine.put_object(ACCOUNT, "box", "k", chunks(data), attrs=SSE_S3)
    assert obj.sealing is not None
    assert engine._blobs.size(obj.extents[0].blob_id or "") == sealing.sealed_size(size)
    assert await read_all(engine, obj) == data
    for start, end in ((0, 1), (size // 3, size // 2 + 1), (STRIPE - 5, STRIPE + 5),
                       (sealing.CHUNK - 3, 2 * sealing.CHUNK + 3), (max(0, size - 1), size)):
        if 0 <= start <= end <= size:
            assert await read_all(engine, obj, start, end) == data[start:end]


async def test_tampered_encrypted_stripes_are_an_error_never_other_data(engine: Engine) -> None:
    data = os.urandom(3 * STRIPE)
    obj = await engine.put_object(ACCOUNT, "box", "k", chunks(data), attrs=SSE_S3)
    blob_id = obj.extents[0].blob_id or ""
    ioctx = rados_of(engine).ioctx
    second = stripe_name(blob_id, 1)
    raw = bytearray(ioctx.read(second, STRIPE, 0))
    raw[100] ^= 1
    ioctx.write_full(second, bytes(raw))
    damaged_chunk = (STRIPE + 100 - sealing.HEADER_BYTES) // sealing.SEALED_CHUNK
    intact = damaged_chunk * sealing.CHUNK
    assert await read_all(engine, obj, 0, intact) == data[:intact]
    with pytest.raises(DataCorrupted):
        await read_all(engine, obj)
    ioctx.remove_object(stripe_name(blob_id, 2))
    with pytest.raises((DataUnavailable, DataCorrupted)):
        await read_all(engine, obj, len(data) - 10, len(data))


async def test_reads_do_not_hold_the_event_loop(engine: Engine) -> None:
    """A read of a remote blob waits for RADOS in worker threads: the loop keeps ticking meanwhile."""
    obj = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        pieces = [chunk async for chunk in engine.read(obj)]
    finally:
        task.cancel()
    assert b"".join(pieces) == BIG
    assert ticks >= len(pieces), "the loop should have run between the chunks RADOS delivered"


async def test_recovery_collects_only_old_leftovers_of_dead_writers(tmp_path: Path, rados_url: str,
                                                                   clock: Clock) -> None:
    engine = Engine(tmp_path / "data", blobs_url=rados_url)
    engine.create_container(ACCOUNT, "box")
    kept = await engine.put_object(ACCOUNT, "box", "kept", chunks(BIG))
    dead = engine._blobs.open_writer()  # a writer whose process died: stripes, no head
    dead.write(BIG)
    orphan = engine._blobs.open_writer()  # committed, but its metadata commit never happened
    orphan.write(BIG[:STRIPE + 1])
    orphan.commit()
    leftovers = {stripe_name(dead.blob_id, index) for index in range(1, 5)} | {
        stripe_name(orphan.blob_id, 0), stripe_name(orphan.blob_id, 1)}
    wait_until(lambda: leftovers <= pool_objects(engine), "the dead writer's stripes stored")
    engine.close()

    report = Engine.recover(tmp_path / "data", rados_url)  # other nodes may be writing them: kept
    assert (report.temp_files, report.orphan_blobs) == (0, 0)
    clock.advance(2 * 3600)
    report = Engine.recover(tmp_path / "data", rados_url)
    assert (report.temp_files, report.orphan_blobs) == (1, 1)

    engine = Engine(tmp_path / "data", blobs_url=rados_url)
    try:
        assert pool_objects(engine).isdisjoint(leftovers)
        assert stripes_of(engine, kept) and await read_all(engine, kept) == BIG
    finally:
        engine.close()


@pytest.mark.timeout(120)
async def test_kill_9_during_writes_to_rados_loses_no_acknowledged_write(tmp_path: Path, rados_url: str,
                                                                         clock: Clock) -> None:
    Engine(tmp_path, blobs_url=rados_url).close()
    env = {**os.environ, "WRITER_BLOBS": rados_url,
           "PYTHONPATH": os.pathsep.join([str(WRITER.parent), *sys.path])}
    writer = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path), "one"], stdout=subprocess.PIPE,
                              text=True, env=env)
    from storage.test_recovery import Acks

    acks = Acks(writer)
    assert acks.ready.wait(30)
    deadline = time.monotonic() + 60
    while len(acks.latest) <= 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    acks.thread.join(10)
    assert writer.stdout is not None
    writer.stdout.close()
    assert len(acks.latest) > 12, "the writer should have written something before the kill"

    clock.advance(2 * 3600)  # what the killed writer left is old enough to be collected
    Engine.recover(tmp_path, rados_url)
    engine = Engine(tmp_path, blobs_url=rados_url)
    try:
        await check_acknowledged_writes_survived(engine, acks.latest)
        await check_nothing_partial_is_visible(engine)
        stripes = [parse_stripe_name(name) for name in pool_objects(engine)]
        heads = {stripe[0] for stripe in stripes if stripe is not None and stripe[1] == 0}
        assert heads == engine._catalog.known_blobs()
        assert all(stripe is not None and stripe[0] in heads for stripe in stripes), \
            "stripes of unfinished writes are left"
    finally:
        engine.close()
