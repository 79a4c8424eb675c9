from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import zlib
from pathlib import Path

import pytest

from stackbox.sql import connect
from stackbox.storage.checksums import checksum_of
from stackbox.storage.engine import Engine
from stackbox.storage.types import (
    BadDigest,
    EntityTooSmall,
    InvalidPart,
    InvalidPartOrder,
    NoSuchUpload,
    ObjectAttrs,
    PreconditionFailed,
    Preconditions,
    WriteChecks,
)
from storage.conftest import ACCOUNT, chunks, read_all

PART_1 = os.urandom(300_000)
PART_2 = os.urandom(200_000)
PART_3 = b"last"


async def upload_three(engine: Engine, key: str = "mp",
                       **options: object) -> tuple[str, list[tuple[int, str]]]:
    upload = engine.create_upload(ACCOUNT, "box", key, ObjectAttrs(meta={"m": "1"}), **options)  # type: ignore[arg-type]
    listed = []
    for number, data in ((1, PART_1), (2, PART_2), (3, PART_3)):
        part = await engine.put_part(ACCOUNT, "box", upload.upload_id, number, chunks(data))
        listed.append((number, f'"{part.etag}"'))
    return upload.upload_id, listed


def blob_count(engine: Engine) -> int:
    return len(list(engine._blobs.scan()))


async def test_complete_builds_the_object_without_copying(engine: Engine) -> None:
    upload_id, parts = await upload_three(engine)
    blobs_before = blob_count(engine)
    obj = engine.complete_upload(ACCOUNT, "box", upload_id, parts)
    md5s = b"".join(hashlib.md5(data).digest() for data in (PART_1, PART_2, PART_3))
    assert obj.etag == f"{hashlib.md5(md5s).hexdigest()}-3"
    assert obj.meta == {"m": "1"} and [part.size for part in obj.parts] == [300_000, 200_000, 4]
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "mp")) == PART_1 + PART_2 + PART_3
    assert blob_count(engine) == blobs_before
    with pytest.raises(NoSuchUpload):
        engine.list_parts(ACCOUNT, "box", upload_id)


async def test_unused_and_replaced_parts_are_freed(engine: Engine) -> None:
    upload_id, parts = await upload_three(engine)
    await engine.put_part(ACCOUNT, "box", upload_id, 2, chunks(b"replacement"))
    listed, truncated = engine.list_parts(ACCOUNT, "box", upload_id)
    assert [(part.number, part.size) for part in listed] == [(1, 300_000), (2, 11), (3, 4)] and not truncated
    engine.complete_upload(ACCOUNT, "box", upload_id, [parts[0], (2, listed[1].etag)])
    engine.collect_garbage(grace=0)
    assert blob_count(engine) == 2
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "mp")) == PART_1 + b"replacement"


async def test_complete_rejects_bad_part_lists(engine: Engine) -> None:
    upload_id, parts = await upload_three(engine)
    with pytest.raises(InvalidPartOrder):
        engine.complete_upload(ACCOUNT, "box", upload_id, [parts[1], parts[0]])
    with pytest.raises(InvalidPart):
        engine.complete_upload(ACCOUNT, "box", upload_id, [parts[0], (2, "0" * 32)])
    with pytest.raises(InvalidPart):
        engine.complete_upload(ACCOUNT, "box", upload_id, [parts[0], (7, parts[1][1])])
    with pytest.raises(EntityTooSmall):
        engine.complete_upload(ACCOUNT, "box", upload_id, parts, min_part_size=250_000)
    await engine.put_object(ACCOUNT, "box", "mp", chunks(b"existing"))
    with pytest.raises(PreconditionFailed):
        engine.complete_upload(ACCOUNT, "box", upload_id, parts,
                               preconditions=Preconditions(if_none_match_star=True))
    assert len(engine.list_parts(ACCOUNT, "box", upload_id)[0]) == 3
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "mp")) == b"existing"


async def test_abort_and_expiry_free_parts(engine: Engine) -> None:
    upload_id, _ = await upload_three(engine)
    engine.abort_upload(ACCOUNT, "box", upload_id)
    with pytest.raises(NoSuchUpload):
        await engine.put_part(ACCOUNT, "box", upload_id, 1, chunks(b"x"))
    await upload_three(engine, "other")
    assert engine.expire_uploads(time.time() - 3600) == 0
    assert engine.expire_uploads(time.time() + 1) == 1
    engine.collect_garbage(grace=0)
    assert blob_count(engine) == 0 and os.listdir(engine._blobs.store.tmp) == []


async def test_part_verification(engine: Engine) -> None:
    upload = engine.create_upload(ACCOUNT, "box", "k")
    with pytest.raises(BadDigest):
        await engine.put_part(ACCOUNT, "box", upload.upload_id, 1, chunks(b"data"),
                              WriteChecks(md5_hex=hashlib.md5(b"other").hexdigest()))
    assert engine.list_parts(ACCOUNT, "box", upload.upload_id) == ([], False)
    assert blob_count(engine) == 0


@pytest.mark.parametrize("checksum_type", ["FULL_OBJECT", "COMPOSITE"])
async def test_multipart_checksums(engine: Engine, checksum_type: str) -> None:
    upload_id, parts = await upload_three(engine, checksum_algorithm="crc32", checksum_type=checksum_type)
    listed, _ = engine.list_parts(ACCOUNT, "box", upload_id)
    assert [part.checksum for part in listed] == [checksum_of("crc32", d) for d in (PART_1, PART_2, PART_3)]
    obj = engine.complete_upload(ACCOUNT, "box", upload_id, parts)
    assert obj.checksum is not None and obj.checksum.type == checksum_type
    if checksum_type == "FULL_OBJECT":
        whole = zlib.crc32(PART_1 + PART_2 + PART_3).to_bytes(4, "big")
        assert obj.checksum.value == base64.b64encode(whole).decode()
    else:
        raw = b"".join(base64.b64decode(part.checksum or "") for part in listed)
        assert obj.checksum.value == checksum_of("crc32", raw)
        assert len(obj.checksum.part_values) == 3


async def test_upload_part_copy_takes_a_range(engine: Engine) -> None:
    source = await engine.put_object(ACCOUNT, "box", "src", chunks(PART_1))
    upload = engine.create_upload(ACCOUNT, "box", "dst")
    part = await engine.upload_part_copy(ACCOUNT, "box", upload.upload_id, 1, source, 10, 1010)
    assert part.size == 1000 and part.etag == hashlib.md5(PART_1[10:1010]).hexdigest()
    engine.complete_upload(ACCOUNT, "box", upload.upload_id, [(1, part.etag)])
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "dst")) == PART_1[10:1010]


async def test_list_uploads_with_markers_and_delimiter(engine: Engine) -> None:
    ids = {}
    for key in ["a/1", "a/2", "b", "b", "c/x/y"]:
        ids.setdefault(key, []).append(engine.create_upload(ACCOUNT, "box", key).upload_id)
    everything = engine.list_uploads(ACCOUNT, "box")
    assert [(u.key, u.upload_id) for u in everything.uploads] == [
        ("a/1", ids["a/1"][0]), ("a/2", ids["a/2"][0]), ("b", ids["b"][0]), ("b", ids["b"][1]),
        ("c/x/y", ids["c/x/y"][0])]
    first = engine.list_uploads(ACCOUNT, "box", limit=3)
    assert first.truncated and (first.next_key_marker, first.next_upload_id_marker) == ("b", ids["b"][0])
    rest = engine.list_uploads(ACCOUNT, "box", key_marker="b", upload_id_marker=ids["b"][0])
    assert [u.upload_id for u in rest.uploads] == [ids["b"][1], ids["c/x/y"][0]]
    rolled = engine.list_uploads(ACCOUNT, "box", delimiter="/")
    assert rolled.prefixes == ["a/", "c/"] and [u.key for u in rolled.uploads] == ["b", "b"]
    assert [u.key for u in engine.list_uploads(ACCOUNT, "box", prefix="a/").uploads] == ["a/1", "a/2"]
    assert [u.key for u in engine.list_uploads(ACCOUNT, "box", key_marker="b").uploads] == ["c/x/y"]


async def test_deleting_the_container_drops_uploads(engine: Engine) -> None:
    await upload_three(engine)
    engine.delete_container(ACCOUNT, "box")
    engine.collect_garbage(grace=0)
    assert blob_count(engine) == 0


async def test_a_failing_completion_of_many_parts_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """Parts are read and checked before the write lock: while another writer holds it, a completion
    refused for EntityTooSmall answers at once (it used to wait for the lock, then hold it while
    reading every part)."""
    engine = Engine(tmp_path / "data", fsync=False)
    engine.create_container(ACCOUNT, "box")
    upload = engine.create_upload(ACCOUNT, "box", "many")
    listed = [(number, (await engine.put_part(ACCOUNT, "box", upload.upload_id, number, chunks(b"x"))).etag)
              for number in range(1, 2001)]
    other = connect(tmp_path / "data" / "meta.db")
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(3.0, other.execute, ("COMMIT",))
    releaser.start()
    try:
        started = time.monotonic()
        with pytest.raises(EntityTooSmall):
            engine.complete_upload(ACCOUNT, "box", upload.upload_id, listed, min_part_size=5 << 20)
        assert time.monotonic() - started < 1.0
    finally:
        releaser.join()
        other.close()
    assert len(engine.list_parts(ACCOUNT, "box", upload.upload_id, limit=10_000)[0]) == 2000
    engine.close()


async def test_a_part_uploaded_again_during_completion_is_noticed(engine: Engine) -> None:
    """The commit checks that the parts read before the write lock are still the upload's: an object
    never references a replaced (freed) part's blob."""
    upload_id, parts = await upload_three(engine)
    stale = engine._catalog.stored_parts(upload_id)
    await engine.put_part(ACCOUNT, "box", upload_id, 2, chunks(b"replacement"))
    fresh_read = engine._catalog.stored_parts
    reads = iter([stale])
    engine._catalog.stored_parts = lambda upload_id: next(reads, None) or fresh_read(upload_id)  # type: ignore[method-assign]
    with pytest.raises(InvalidPart) as refused:
        engine.complete_upload(ACCOUNT, "box", upload_id, parts)
    assert refused.value.number == 2
    assert not engine.list_objects(ACCOUNT, "box").objects
    reads = iter([stale] * 3)
    with pytest.raises(InvalidPart):
        engine.complete_upload(ACCOUNT, "box", upload_id, parts)
    parts[1] = (2, hashlib.md5(b"replacement").hexdigest())
    stale = engine._catalog.stored_parts(upload_id)
    await engine.put_part(ACCOUNT, "box", upload_id, 4, chunks(b"unused"))
    reads = iter([stale])  # changed, but both reads make the same object: the retry commits it
    engine.complete_upload(ACCOUNT, "box", upload_id, parts)
    completed = engine.head_object(ACCOUNT, "box", "mp")
    assert await read_all(engine, completed) == PART_1 + b"replacement" + PART_3
