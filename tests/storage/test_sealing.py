"""The engine's encryption at rest: chunk layout, ranges, and what tampering with a blob yields."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from stackbox.storage import sealing
from stackbox.storage.engine import Engine
from stackbox.storage.keys import KeyService
from stackbox.storage.types import (
    CustomerKeyNotApplicable,
    CustomerKeyRequired,
    DataCorrupted,
    EncryptedSegment,
    Encryption,
    KeyDisabled,
    KeyNotFound,
    NoSuchObject,
    ObjectAttrs,
    ObjectInfo,
    SegmentRef,
    WrongCustomerKey,
)

from .conftest import ACCOUNT, chunks, read_all

CHUNK = sealing.CHUNK
SSE_S3 = ObjectAttrs(encryption=Encryption("AES256"))


def blob_path(engine: Engine, obj: ObjectInfo) -> Path:
    return engine._blobs.store.path(obj.extents[0].blob_id or "")


async def put(engine: Engine, key: str, data: bytes, attrs: ObjectAttrs = SSE_S3) -> ObjectInfo:
    pieces = [data[i:i + 10_000] for i in range(0, len(data), 10_000)] or [b""]
    return await engine.put_object(ACCOUNT, "box", key, chunks(*pieces), attrs=attrs)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
async def test_every_size_and_range_reads_back(engine: Engine, size: int) -> None:
    data = os.urandom(size)
    obj = await put(engine, "k", data)
    assert obj.sealing is not None and obj.etag == hashlib.md5(data).hexdigest()
    assert await read_all(engine, obj) == data
    for start, end in ((0, size), (size // 3, size // 2), (max(0, size - 1), size), (CHUNK - 3, CHUNK + 3)):
        if 0 <= start <= end <= size:
            assert await read_all(engine, obj, start, end) == data[start:end]
    if size:
        assert blob_path(engine, obj).stat().st_size == sealing.sealed_size(size)


async def test_blob_holds_no_plaintext_and_blobs_never_share_a_key(engine: Engine) -> None:
    data = b"top secret " * 20_000
    first, second = await put(engine, "a", data), await put(engine, "b", data)
    one, two = blob_path(engine, first).read_bytes(), blob_path(engine, second).read_bytes()
    assert b"top secret" not in one and one[sealing.HEADER_BYTES:] != two[sealing.HEADER_BYTES:]


DAMAGES = ["flip", "truncate_chunk", "truncate_boundary", "swap", "append", "header"]


@pytest.mark.parametrize("damage", DAMAGES)
async def test_tampering_is_an_error_never_other_data(engine: Engine, damage: str) -> None:
    data = os.urandom(3 * CHUNK + 100)
    obj = await put(engine, "k", data)
    path = blob_path(engine, obj)
    raw = bytearray(path.read_bytes())
    start = sealing.HEADER_BYTES
    size = sealing.SEALED_CHUNK
    if damage == "flip":
        raw[start + size + 5] ^= 0x80
    elif damage == "truncate_chunk":
        del raw[-50:]
    elif damage == "truncate_boundary":  # drop the final chunk: the chunk before it is not marked final
        del raw[start + 3 * size:]
    elif damage == "swap":
        raw[start:start + size], raw[start + size:start + 2 * size] = (raw[start + size:start + 2 * size],
                                                                        raw[start:start + size])
    elif damage == "append":
        raw += os.urandom(40)
    else:
        raw[0:4] = b"XXXX"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataCorrupted):
        await read_all(engine, obj)


async def test_a_range_decrypts_only_the_chunks_it_touches(engine: Engine) -> None:
    data = os.urandom(4 * CHUNK)
    obj = await put(engine, "k", data)
    path = blob_path(engine, obj)
    raw = bytearray(path.read_bytes())
    raw[sealing.HEADER_BYTES + 3 * sealing.SEALED_CHUNK + 7] ^= 1  # damage the last chunk only
    path.write_bytes(bytes(raw))
    assert await read_all(engine, obj, 10, 2 * CHUNK + 10) == data[10:2 * CHUNK + 10]
    with pytest.raises(DataCorrupted):
        await read_all(engine, obj, 3 * CHUNK, 3 * CHUNK + 1)


async def test_customer_keys(engine: Engine) -> None:
    key, other = os.urandom(32), os.urandom(32)
    attrs = ObjectAttrs(encryption=Encryption("SSE-C", customer_key=key))
    obj = await put(engine, "c", b"data" * 30_000, attrs)
    assert repr(key) not in repr(obj) and obj.sealing is not None and key not in obj.sealing.wrapped_key
    assert await read_all_with(engine, obj, key) == b"data" * 30_000
    for given, error in ((None, CustomerKeyRequired), (other, WrongCustomerKey)):
        with pytest.raises(error):
            engine.read(obj, customer_key=given)
        with pytest.raises(error):
            engine.check_encryption_key(obj, given)
    plain = await put(engine, "p", b"plain", ObjectAttrs())
    with pytest.raises(CustomerKeyNotApplicable):
        engine.read(plain, customer_key=key)


async def read_all_with(engine: Engine, obj: ObjectInfo, key: bytes) -> bytes:
    return b"".join([chunk async for chunk in engine.read(obj, customer_key=key)])


async def test_key_service_errors_rotation_and_reload(engine: Engine, tmp_path: Path) -> None:
    service = engine.keys
    record = service.create(alias="team")
    obj = await put(engine, "k", b"x" * 100_000, ObjectAttrs(encryption=Encryption("aws:kms", "alias/team")))
    assert obj.sealing is not None and obj.sealing.key_id == record.key_id
    other_process = KeyService(service.directory, service.database)  # as the CLI sees the same keys
    other_process.rotate(record.key_id)
    by_id = ObjectAttrs(encryption=Encryption("aws:kms", record.key_id))
    newer = await put(engine, "k2", b"y" * 100_000, by_id)
    assert obj.sealing.wrapped_key[:4] == (1).to_bytes(4, "big")
    assert newer.sealing is not None and newer.sealing.wrapped_key[:4] == (2).to_bytes(4, "big")
    assert await read_all(engine, obj) == b"x" * 100_000
    other_process.set_enabled("alias/team", False)
    with pytest.raises(KeyDisabled):
        engine.read(obj)
    with pytest.raises(KeyDisabled):
        await put(engine, "k3", b"z", ObjectAttrs(encryption=Encryption("aws:kms", record.key_id)))
    with pytest.raises(KeyNotFound):
        await put(engine, "k3", b"z", ObjectAttrs(encryption=Encryption("aws:kms", "alias/nope")))
    other_process.set_enabled(f"arn:aws:kms:us-east-1:000000000000:key/{record.key_id}", True)
    assert await read_all(engine, newer) == b"y" * 100_000
    with pytest.raises(NoSuchObject):
        engine.head_object(ACCOUNT, "box", "k3")  # nothing was written
    if service.database is None:
        assert b'"versions"' in (service.directory / "keys.json").read_bytes()
    else:  # the nodes' shared key set is in the database
        assert not (service.directory / "keys.json").exists()


async def test_wrong_master_key_is_refused(engine: Engine, metadata: str) -> None:
    obj = await put(engine, "k", b"x" * 1000)
    master = engine.keys.directory / "master.key"
    master.write_bytes(os.urandom(32))
    fresh = Engine(engine.keys.directory.parent, metadata=metadata)
    try:
        with pytest.raises(DataCorrupted):
            fresh.read(obj)
    finally:
        fresh.close()


async def test_encrypted_segments_cannot_join_a_manifest(engine: Engine) -> None:
    await put(engine, "seg", b"s" * 1000)
    with pytest.raises(EncryptedSegment):
        engine.put_manifest_object(ACCOUNT, "box", "slo", [SegmentRef("box", "seg")], attrs=ObjectAttrs())


async def test_copies_keep_or_change_the_data_key(engine: Engine) -> None:
    data = os.urandom(200_000)
    source = await put(engine, "src", data)
    kms = ObjectAttrs(encryption=Encryption("aws:kms"))
    rewrapped = await engine.copy_encrypted(source, ACCOUNT, "box", "kms", attrs=kms)
    assert rewrapped.extents == source.extents  # shared data, the key rewrapped
    assert rewrapped.sealing is not None and rewrapped.sealing.mode == "aws:kms"
    plain = await engine.copy_encrypted(source, ACCOUNT, "box", "plain", attrs=ObjectAttrs())
    assert plain.sealing is None and plain.extents != source.extents
    key = os.urandom(32)
    customer = ObjectAttrs(encryption=Encryption("SSE-C", customer_key=key))
    sealed = await engine.copy_encrypted(source, ACCOUNT, "box", "c", attrs=customer)
    assert sealed.extents != source.extents
    for obj, customer_key in ((rewrapped, None), (plain, None), (sealed, key)):
        assert b"".join([c async for c in engine.read(obj, customer_key=customer_key)]) == data
    swift_copy = engine.copy_object(ACCOUNT, "box", "src", ACCOUNT, "box", "swift", attrs=ObjectAttrs())
    assert swift_copy.sealing == source.sealing and await read_all(engine, swift_copy) == data
