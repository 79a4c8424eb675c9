from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stackbox.storage.engine import Engine
from stackbox.storage.ingest import INLINE_LIMIT
from stackbox.storage.types import (
    BadDigest,
    ChecksumMismatch,
    ContainerNotEmpty,
    DataUnavailable,
    EntityTooLarge,
    IncompleteBody,
    InvalidKey,
    InvalidRange,
    InvalidSegment,
    KeyTooLong,
    NoSuchContainer,
    NoSuchObject,
    ObjectAttrs,
    PreconditionFailed,
    Preconditions,
    SegmentRef,
    WriteChecks,
)
from storage.conftest import ACCOUNT, chunks, read_all

BIG = os.urandom(3 * 1024 * 1024 + 17)


def blob_files(engine: Engine) -> list[str]:
    return list(engine._blobs.scan())


async def assert_no_blob_left(engine: Engine) -> None:
    """A local backend's blob is deleted when the call returns; a remote one's in the background."""
    deadline = time.monotonic() + (30.0 if engine._blobs.remote else 0.0)
    while blob_files(engine) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert blob_files(engine) == []


@pytest.mark.parametrize("data", [b"", b"small", BIG], ids=["empty", "inline", "blob"])
async def test_round_trip_keeps_data_and_attributes(engine: Engine, data: bytes) -> None:
    attrs = ObjectAttrs(content_type="text/plain", meta={"color": "blue"}, headers={"Cache-Control": "no"},
                        tags={"a": "b"}, acl="public-read")
    written = await engine.put_object(ACCOUNT, "box", "k", chunks(data[:1000], data[1000:]), attrs=attrs)
    found = engine.head_object(ACCOUNT, "box", "k")
    assert found.etag == written.etag == hashlib.md5(data).hexdigest()
    assert (found.size, found.content_type, found.meta, found.headers, found.tags, found.acl) == (
        len(data), "text/plain", {"color": "blue"}, {"Cache-Control": "no"}, {"a": "b"}, "public-read")
    assert await read_all(engine, found) == data


async def test_ranges_across_chunk_boundaries(engine: Engine) -> None:
    obj = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
    for start, end in [(0, 1), (5, (1 << 20) + 3), (len(BIG) - 10, len(BIG)), (7, 7)]:
        assert await read_all(engine, obj, start, end) == BIG[start:end]
    chunk_sizes = [len(chunk) async for chunk in engine.read(obj)]
    assert max(chunk_sizes) <= 1 << 20 and sum(chunk_sizes) == len(BIG)
    with pytest.raises(InvalidRange):
        engine.read(obj, 10, len(BIG) + 1)


async def test_small_objects_are_inline_and_large_ones_blobs(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "small", chunks(b"x" * INLINE_LIMIT))
    assert blob_files(engine) == []
    await engine.put_object(ACCOUNT, "box", "large", chunks(b"x" * (INLINE_LIMIT + 1)))
    assert len(blob_files(engine)) == 1


async def test_overwrite_replaces_data_and_counts(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"new"))
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "k")) == b"new"
    container = engine.get_container(ACCOUNT, "box")
    assert (container.object_count, container.bytes_used) == (1, 3)
    assert engine.collect_garbage(grace=0) == 1
    assert blob_files(engine) == []


async def failing_body(data: bytes) -> AsyncIterator[bytes]:
    yield data
    await asyncio.sleep(0)
    raise ConnectionResetError("client went away")


@pytest.mark.parametrize("size", [10, len(BIG)])
async def test_failed_body_leaves_old_object_and_no_garbage(engine: Engine, size: int) -> None:
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"old"))
    with pytest.raises(ConnectionResetError):
        await engine.put_object(ACCOUNT, "box", "k", failing_body(BIG[:size]))
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "k")) == b"old"
    assert blob_files(engine) == [] and os.listdir(engine._blobs.store.tmp) == []


@pytest.mark.parametrize(("checks", "error"), [
    (WriteChecks(length=len(BIG) + 1), IncompleteBody),
    (WriteChecks(length=len(BIG) - 1), IncompleteBody),
    (WriteChecks(max_length=1000), EntityTooLarge),
    (WriteChecks(md5_hex=hashlib.md5(b"other").hexdigest()), BadDigest),
    (WriteChecks(expected_checksums={"crc32": "AAAAAA=="}), ChecksumMismatch),
    (WriteChecks(algorithms=("sha256",), expected_checksums=lambda: {"sha256": "bm9wZQ=="}),
     ChecksumMismatch),
])
async def test_verification_failures_change_nothing(engine: Engine, checks: WriteChecks,
                                                    error: type[Exception]) -> None:
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"old"))
    with pytest.raises(error):
        await engine.put_object(ACCOUNT, "box", "k", chunks(BIG), checks=checks)
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "k")) == b"old"
    assert blob_files(engine) == [] and os.listdir(engine._blobs.store.tmp) == []


async def test_checksums_verified_and_stored(engine: Engine) -> None:
    crc = base64.b64encode(zlib.crc32(BIG).to_bytes(4, "big")).decode()
    sha = base64.b64encode(hashlib.sha256(BIG).digest()).decode()
    checks = WriteChecks(length=len(BIG), md5_hex=hashlib.md5(BIG).hexdigest(),
                         algorithms=("crc32", "sha256"),
                         expected_checksums=lambda: {"crc32": crc, "sha256": sha})
    obj = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG), checks=checks)
    assert obj.checksum is not None and (obj.checksum.algorithm, obj.checksum.value) == ("crc32", crc)
    assert engine.head_object(ACCOUNT, "box", "k").checksum == obj.checksum


async def test_checksums_provided_by_the_caller_are_stored_not_recomputed(engine: Engine) -> None:
    sha = base64.b64encode(hashlib.sha256(BIG).digest()).decode()
    upstream = base64.b64encode(b"\x01\x02\x03\x04").decode()  # not BIG's CRC: proves it was not recomputed
    checks = WriteChecks(algorithms=("crc32", "sha256"), provided_algorithms=("crc32",),
                         provided_checksums=lambda: {"crc32": upstream})
    obj = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG), checks=checks)
    assert obj.checksum is not None and obj.checksum.value == upstream
    mismatch = WriteChecks(algorithms=("sha256",), provided_algorithms=("sha256",),
                           provided_checksums=lambda: {"sha256": upstream},
                           expected_checksums={"sha256": sha})
    with pytest.raises(ChecksumMismatch):
        await engine.put_object(ACCOUNT, "box", "k", chunks(b"other"), checks=mismatch)
    broken = WriteChecks(algorithms=("crc32",), provided_algorithms=("crc32",), provided_checksums=dict)
    with pytest.raises(ValueError, match="did not provide"):
        await engine.put_object(ACCOUNT, "box", "k", chunks(b"other"), checks=broken)
    assert engine.head_object(ACCOUNT, "box", "k").checksum == obj.checksum


async def test_preconditions_are_atomic_with_the_write(engine: Engine) -> None:
    first = await engine.put_object(ACCOUNT, "box", "k", chunks(b"one"),
                                    preconditions=Preconditions(if_none_match_star=True))
    with pytest.raises(PreconditionFailed):
        await engine.put_object(ACCOUNT, "box", "k", chunks(b"two"),
                                preconditions=Preconditions(if_none_match_star=True))
    with pytest.raises(PreconditionFailed):
        await engine.put_object(ACCOUNT, "box", "k", chunks(b"two"),
                                preconditions=Preconditions(if_match_etag="x"))
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"two"),
                            preconditions=Preconditions(if_match_etag=f'"{first.etag}"'))
    with pytest.raises(PreconditionFailed):
        engine.delete_object(ACCOUNT, "box", "k", Preconditions(if_match_etag=first.etag))
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "k")) == b"two"


async def test_if_none_match_loses_a_race_at_commit(engine: Engine) -> None:
    gate = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        await gate.wait()
        yield BIG

    slow = asyncio.create_task(engine.put_object(ACCOUNT, "box", "k", slow_body(),
                                                 preconditions=Preconditions(if_none_match_star=True)))
    await asyncio.sleep(0)
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"winner"))
    gate.set()
    with pytest.raises(PreconditionFailed):
        await slow
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "k")) == b"winner"
    await assert_no_blob_left(engine)


async def test_missing_things_raise_typed_errors(engine: Engine) -> None:
    with pytest.raises(NoSuchObject):
        engine.head_object(ACCOUNT, "box", "nope")
    with pytest.raises(NoSuchContainer):
        engine.head_object(ACCOUNT, "nobox", "nope")
    with pytest.raises(NoSuchContainer):
        await engine.put_object(ACCOUNT, "nobox", "k", chunks(b"x"))
    with pytest.raises(KeyTooLong):
        await engine.put_object(ACCOUNT, "box", "é" * 513, chunks(b"x"))
    assert engine.delete_object(ACCOUNT, "box", "nope") is False


async def test_unicode_keys_round_trip(engine: Engine) -> None:
    key = "dir/ünïcødé 🚀 \u2028" + "k" * 900
    await engine.put_object(ACCOUNT, "box", key, chunks(b"x"))
    assert engine.head_object(ACCOUNT, "box", key).key == key


async def test_container_lifecycle_and_account_totals(engine: Engine) -> None:
    assert engine.create_container(ACCOUNT, "box") is False
    engine.update_container_meta(ACCOUNT, "box", {"meta:a": "1", "meta:b": "2"})
    info = engine.update_container_meta(ACCOUNT, "box", {"meta:c": "3"}, remove=["meta:a"])
    assert info.meta == {"meta:b": "2", "meta:c": "3"}
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"abc"))
    container = engine.get_container(ACCOUNT, "box")
    assert container.last_modified >= container.created and container.object_count == 1
    engine.create_container(ACCOUNT, "other")
    account = engine.get_account(ACCOUNT)
    assert (account.container_count, account.object_count, account.bytes_used) == (2, 1, 3)
    with pytest.raises(ContainerNotEmpty):
        engine.delete_container(ACCOUNT, "box")
    engine.delete_object(ACCOUNT, "box", "k")
    engine.delete_container(ACCOUNT, "box")
    with pytest.raises(NoSuchContainer):
        engine.get_container(ACCOUNT, "box")
    engine.update_account_meta(ACCOUNT, {"meta:x": "y"})
    assert engine.get_account(ACCOUNT).meta == {"meta:x": "y"}
    assert engine.get_account("AUTH_never").created == 0.0


async def test_copy_shares_blobs_and_refcounts(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "src", chunks(BIG), attrs=ObjectAttrs(meta={"a": "1"}))
    engine.create_container(ACCOUNT, "dst")
    kept = engine.copy_object(ACCOUNT, "box", "src", ACCOUNT, "dst", "same")
    replaced = engine.copy_object(ACCOUNT, "box", "src", ACCOUNT, "dst", "new",
                                  attrs=ObjectAttrs(meta={"b": "2"}))
    assert (kept.meta, replaced.meta) == ({"a": "1"}, {"b": "2"})
    assert len(blob_files(engine)) == 1
    engine.delete_object(ACCOUNT, "box", "src")
    engine.delete_object(ACCOUNT, "dst", "same")
    assert engine.collect_garbage(grace=0) == 0
    assert await read_all(engine, engine.head_object(ACCOUNT, "dst", "new")) == BIG
    engine.delete_object(ACCOUNT, "dst", "new")
    assert engine.collect_garbage(grace=0) == 1 and blob_files(engine) == []
    await engine.put_object(ACCOUNT, "box", "src", chunks(b"s"))
    with pytest.raises(PreconditionFailed):
        engine.copy_object(ACCOUNT, "box", "src", ACCOUNT, "dst", "x", source_etag="other")


async def test_update_object_rewrites_attributes_only(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"data"), attrs=ObjectAttrs(meta={"a": "1"}))
    updated = engine.update_object(ACCOUNT, "box", "k", meta={"b": "2"}, content_type="text/x")
    assert (updated.meta, updated.content_type) == ({"b": "2"}, "text/x")
    assert updated.etag == hashlib.md5(b"data").hexdigest()
    with pytest.raises(TypeError):
        engine.update_object(ACCOUNT, "box", "k", etag="forged")


async def test_expired_objects_vanish_and_are_reaped(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "gone", chunks(BIG), attrs=ObjectAttrs(delete_at=1))
    await engine.put_object(ACCOUNT, "box", "later", chunks(b"x"), attrs=ObjectAttrs(delete_at=2**40))
    with pytest.raises(NoSuchObject):
        engine.head_object(ACCOUNT, "box", "gone")
    assert [entry.key for entry in engine.list_objects(ACCOUNT, "box").objects] == ["later"]
    assert engine.reap_expired() == 1
    assert engine.get_container(ACCOUNT, "box").object_count == 1
    await engine.put_object(ACCOUNT, "box", "gone", chunks(b"x"),
                            preconditions=Preconditions(if_none_match_star=True))


async def test_reaping_checks_the_expiry_again_inside_its_transaction(engine: Engine) -> None:
    """An expiry removed (a POST) between the housekeeping scan and the reap keeps the object."""
    await engine.put_object(ACCOUNT, "box", "kept", chunks(b"x"), attrs=ObjectAttrs(delete_at=2**40))
    later = float(2**40 + 10)
    [row_id] = engine._catalog.expired(later, 10)
    engine.update_object(ACCOUNT, "box", "kept", delete_at=None)
    engine._catalog.reap(row_id, later)
    assert engine.head_object(ACCOUNT, "box", "kept").size == 1
    assert engine.get_container(ACCOUNT, "box").object_count == 1


async def test_manifest_object_spans_segments_without_copying(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "seg/1", chunks(BIG))
    await engine.put_object(ACCOUNT, "box", "seg/2", chunks(b"tiny segment"))
    segments = [SegmentRef("box", "seg/1", size=len(BIG)), SegmentRef("box", "seg/2", start=5, end=12),
                SegmentRef("box", "seg/1", start=0, end=10)]
    manifest = engine.put_manifest_object(ACCOUNT, "box", "slo", segments,
                                          attrs=ObjectAttrs(manifest=b'[{"path": "box/seg/1"}]'))
    expected = BIG + b"segment" + BIG[:10]
    assert (manifest.size, manifest.manifest_type, manifest.manifest) == (
        len(expected), "slo", b'[{"path": "box/seg/1"}]')
    stored = engine.head_object(ACCOUNT, "box", "slo")
    assert await read_all(engine, stored) == expected
    assert await read_all(engine, stored, len(BIG) - 3, len(BIG) + 9) == expected[len(BIG) - 3:len(BIG) + 9]
    assert len(blob_files(engine)) == 1
    engine.delete_object(ACCOUNT, "box", "seg/1")
    engine.collect_garbage(grace=0)
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "slo")) == expected
    with pytest.raises(InvalidSegment):
        engine.put_manifest_object(ACCOUNT, "box", "bad", [SegmentRef("box", "seg/1")], attrs=ObjectAttrs())
    with pytest.raises(InvalidSegment):
        engine.put_manifest_object(ACCOUNT, "box", "bad", [SegmentRef("box", "seg/2", etag="0" * 32)],
                                   attrs=ObjectAttrs())


async def test_read_of_a_purged_blob_fails_loudly(engine: Engine) -> None:
    obj = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
    engine.delete_object(ACCOUNT, "box", "k")
    engine.collect_garbage(grace=0)
    with pytest.raises(DataUnavailable):
        await read_all(engine, obj)


def test_engines_share_one_data_dir(tmp_path: Path) -> None:
    first, second = Engine(tmp_path), Engine(tmp_path)
    first.create_container(ACCOUNT, "shared")
    asyncio.run(first.put_object(ACCOUNT, "shared", "k", chunks(b"hi")))
    assert second.head_object(ACCOUNT, "shared", "k").size == 2


async def test_copy_and_manifest_sources_report_what_is_missing(engine: Engine) -> None:
    with pytest.raises(NoSuchContainer):
        engine.copy_object(ACCOUNT, "nobox", "k", ACCOUNT, "box", "dst")
    with pytest.raises(NoSuchObject):
        engine.copy_object(ACCOUNT, "box", "nope", ACCOUNT, "box", "dst")
    with pytest.raises(InvalidSegment):
        engine.put_manifest_object(ACCOUNT, "box", "slo", [SegmentRef("nobox", "k")], attrs=ObjectAttrs())
    with pytest.raises(InvalidKey):
        await engine.put_object(ACCOUNT, "box", "", chunks(b"x"))


def test_container_accounts_finds_every_owner(engine: Engine) -> None:
    engine.create_container("AUTH_other", "box")
    assert sorted(engine.container_accounts("box")) == sorted([ACCOUNT, "AUTH_other"])
    assert engine.container_accounts("missing") == []
