"""One conformance suite for every `BlobBackend`: local files, and Ceph RADOS on a throwaway cluster.

Sizes and ranges are placed around each backend's own boundaries (the RADOS stripe, the file
backend's read chunk), and every test checks what is left in the store (objects in the pool's
namespace, files in the data dir), not only what the API answers.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.cluster import CephCluster
from backends.conftest import RadosPool
from stackbox.storage.blob_backend import BlobBackend, BlobWriter
from stackbox.storage.blobs import CHUNK_SIZE
from stackbox.storage.file_blobs import FileBlobs
from stackbox.storage.types import DataUnavailable, InsufficientStorage

MiB = 1 << 20
LAYOUT_OBJECT = "stackbox.blob-layout"
PIECE = 100_003  # an odd write size, so that writes straddle every boundary


@dataclass
class Subject:
    backend: BlobBackend
    #: The size whose multiples are the backend's internal boundaries.
    unit: int
    #: Every name the backend keeps (RADOS objects, or files), to check nothing is left behind.
    stored: Callable[[], set[str]]


def _file_subject(tmp_path: Path) -> Subject:
    backend = FileBlobs(tmp_path / "data", fsync=False)

    def stored() -> set[str]:
        root = tmp_path / "data"
        return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}

    return Subject(backend, CHUNK_SIZE, stored)


def _rados_subject(pool: RadosPool, **options: int) -> Subject:
    from stackbox.storage.rados_blobs import RadosBlobs

    backend = RadosBlobs.connect(pool.name, str(pool.conf), namespace=pool.namespace(), **options)

    def stored() -> set[str]:
        return {entry.key for entry in backend.ioctx.list_objects()} - {LAYOUT_OBJECT}

    return Subject(backend, backend.stripe_size, stored)


@pytest.fixture(params=["file", pytest.param("rados", marks=pytest.mark.cluster)])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "file":
        made = _file_subject(tmp_path)
    else:
        made = _rados_subject(request.getfixturevalue("rados_pool"))
    yield made
    made.backend.close()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed ^ size).randbytes(size)


def store(backend: BlobBackend, data: bytes, piece: int = PIECE) -> str:
    writer = backend.open_writer()
    _write(writer, data, piece)
    writer.commit()
    return writer.blob_id


def _write(writer: BlobWriter, data: bytes, piece: int = PIECE) -> None:
    view = memoryview(data)
    batch = [view[offset:offset + piece] for offset in range(0, len(data), piece)]
    for start in range(0, len(batch), 10):  # batches as the engine's background writer hands them over
        writer.write_all(batch[start:start + 10])
    assert writer.size == len(data)


def read(backend: BlobBackend, blob_id: str, offset: int, length: int, chunk: int = MiB) -> bytes:
    chunks = list(backend.read(blob_id, offset, length, chunk))
    assert all(0 < len(piece) <= chunk for piece in chunks)
    return b"".join(chunks)


@pytest.mark.parametrize("size", ["0", "1", "unit-1", "unit", "unit+1", "2unit", "20MiB"])
def test_round_trip(subject: Subject, size: str) -> None:
    unit = subject.unit
    length = {"0": 0, "1": 1, "unit-1": unit - 1, "unit": unit, "unit+1": unit + 1, "2unit": 2 * unit,
              "20MiB": 20 * MiB}[size]
    data = payload(length)
    blob_id = store(subject.backend, data)
    assert read(subject.backend, blob_id, 0, length) == data
    assert list(subject.backend.scan()) == [blob_id]


def test_implements_the_protocol(subject: Subject) -> None:
    assert isinstance(subject.backend, BlobBackend)
    writer = subject.backend.open_writer()
    assert isinstance(writer, BlobWriter)
    writer.abort()


def test_one_byte_writes(subject: Subject) -> None:
    data = payload(3000)
    writer = subject.backend.open_writer()
    for byte in range(len(data)):
        writer.write(data[byte:byte + 1])
    writer.commit()
    assert read(subject.backend, writer.blob_id, 0, len(data)) == data


def test_a_reused_write_buffer(subject: Subject) -> None:
    """A caller may refill its buffer once `write` returns: what was written must not change."""
    data = payload(2 * subject.unit + 7, seed=16)
    buffer = bytearray(65536)
    writer = subject.backend.open_writer()
    for offset in range(0, len(data), len(buffer)):
        piece = data[offset:offset + len(buffer)]
        buffer[:len(piece)] = piece
        writer.write(memoryview(buffer)[:len(piece)])
        buffer[:] = bytes(len(buffer))  # scribbled over at once
    writer.commit()
    assert read(subject.backend, writer.blob_id, 0, len(data)) == data


def test_ranged_reads_at_every_boundary(subject: Subject) -> None:
    unit = subject.unit
    size = 3 * unit + 17
    data = payload(size, seed=1)
    blob_id = store(subject.backend, data)
    edges = sorted({0, 1, unit - 1, unit, unit + 1, 2 * unit - 1, 2 * unit, 2 * unit + 1, 3 * unit,
                    size - 1, size})
    for start in edges:
        for end in edges:
            if start <= end:
                got = read(subject.backend, blob_id, start, end - start, chunk=unit // 3)
                assert got == data[start:end], (start, end)


def test_reads_in_small_chunks(subject: Subject) -> None:
    data = payload(2 * subject.unit + 5, seed=2)
    blob_id = store(subject.backend, data)
    chunks = list(subject.backend.read(blob_id, 3, len(data) - 3, 4096))
    assert b"".join(chunks) == data[3:]
    assert max(map(len, chunks)) <= 4096


def test_a_reader_may_stop_early(subject: Subject) -> None:
    data = payload(3 * subject.unit, seed=3)
    blob_id = store(subject.backend, data)
    chunks = subject.backend.read(blob_id, 0, len(data), 64 * 1024)
    assert next(iter(chunks)) == data[:64 * 1024]
    del chunks  # abandoned with reads ahead in flight
    assert read(subject.backend, blob_id, 0, len(data)) == data


def test_missing_blob_and_reads_past_the_end(subject: Subject) -> None:
    with pytest.raises(DataUnavailable):
        read(subject.backend, "0" * 32, 0, 10)
    data = payload(subject.unit + 10, seed=4)
    blob_id = store(subject.backend, data)
    with pytest.raises(DataUnavailable):
        read(subject.backend, blob_id, subject.unit, 11)  # one byte too many
    with pytest.raises(DataUnavailable):
        read(subject.backend, blob_id, 5 * subject.unit, 1)


def test_size_and_time_of_a_committed_blob(subject: Subject) -> None:
    """What the engine asks of a blob besides its bytes: its size (encrypted reads) and when it was
    written (recovery leaves recent blobs of other nodes alone)."""
    with pytest.raises(DataUnavailable):
        subject.backend.size("0" * 32)
    with pytest.raises(DataUnavailable):
        subject.backend.written_at("0" * 32)
    before = time.time()
    for size in (0, 1, subject.unit, 2 * subject.unit + 7):
        blob_id = store(subject.backend, payload(size, seed=12))
        assert subject.backend.size(blob_id) == size
        assert before - 2 <= subject.backend.written_at(blob_id) <= time.time() + 2
    subject.backend.delete(blob_id)
    with pytest.raises(DataUnavailable):
        subject.backend.size(blob_id)


@pytest.mark.parametrize("written", [0, 1000, "unit+1", "3unit+5"])
def test_abort_leaves_nothing(subject: Subject, written: int | str) -> None:
    before = subject.stored()
    unit = subject.unit
    size = {"unit+1": unit + 1, "3unit+5": 3 * unit + 5}.get(str(written), written)
    assert isinstance(size, int)
    writer = subject.backend.open_writer()
    _write(writer, payload(size, seed=5))
    writer.abort()
    writer.abort()  # twice is harmless
    assert subject.stored() == before
    assert list(subject.backend.scan()) == []


def test_abort_after_commit_keeps_the_blob(subject: Subject) -> None:
    data = payload(subject.unit + 3, seed=6)
    writer = subject.backend.open_writer()
    _write(writer, data)
    writer.commit()
    writer.abort()
    assert read(subject.backend, writer.blob_id, 0, len(data)) == data


def test_concurrent_writers(subject: Subject) -> None:
    sizes = [subject.unit * n + n * 1009 for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda size: store(subject.backend, payload(size, seed=7)), sizes))
    assert sorted(subject.backend.scan()) == sorted(ids)
    with ThreadPoolExecutor(8) as pool:
        contents = list(pool.map(lambda blob_id, size: read(subject.backend, blob_id, 0, size), ids, sizes))
    assert contents == [payload(size, seed=7) for size in sizes]


def test_writers_aborting_while_others_commit(subject: Subject) -> None:
    before = subject.stored()
    start = threading.Barrier(6)

    def one(index: int) -> str | None:
        writer = subject.backend.open_writer()
        start.wait()
        _write(writer, payload(2 * subject.unit + index, seed=8))
        if index % 2:
            writer.abort()
            return None
        writer.commit()
        return writer.blob_id

    with ThreadPoolExecutor(6) as pool:
        kept = [blob_id for blob_id in pool.map(one, range(6)) if blob_id]
    assert sorted(subject.backend.scan()) == sorted(kept)
    for blob_id in kept:
        subject.backend.delete(blob_id)
    assert subject.stored() == before


def test_delete_removes_everything(subject: Subject) -> None:
    before = subject.stored()
    data = payload(4 * subject.unit + 1, seed=9)
    blob_id = store(subject.backend, data)
    other = store(subject.backend, b"stays")
    assert subject.stored() != before
    subject.backend.delete(blob_id)
    subject.backend.delete(blob_id)  # already gone: not an error
    with pytest.raises(DataUnavailable):
        read(subject.backend, blob_id, 0, len(data))
    assert list(subject.backend.scan()) == [other]
    subject.backend.delete(other)
    assert subject.stored() == before


def test_scan_and_collect_unfinished_writes(subject: Subject) -> None:
    before = subject.stored()
    committed = store(subject.backend, payload(2 * subject.unit + 1, seed=10))
    crashed = subject.backend.open_writer()  # a writer whose process dies: never committed or aborted
    _write(crashed, payload(3 * subject.unit + 1, seed=11))
    assert list(subject.backend.scan()) == [committed]
    assert subject.backend.collect_unfinished(older_than=time.time() - 3600) == 0  # may still be running
    assert subject.backend.collect_unfinished(older_than=time.time() + 5) == 1
    assert list(subject.backend.scan()) == [committed]
    assert read(subject.backend, committed, 0, 10) == payload(2 * subject.unit + 1, seed=10)[:10]
    subject.backend.delete(committed)
    assert subject.stored() == before


def test_check_room(subject: Subject) -> None:
    subject.backend.check_room(1)
    with pytest.raises(InsufficientStorage):
        subject.backend.check_room(1 << 60)


# -- RADOS only -------------------------------------------------------------------------------

@pytest.fixture
def rados_subject(rados_pool: RadosPool) -> Iterator[Subject]:
    made = _rados_subject(rados_pool)
    yield made
    made.backend.close()


@pytest.mark.cluster
def test_rados_stripes_stay_small(rados_subject: Subject) -> None:
    unit = rados_subject.unit
    assert unit == 4 * MiB
    blob_id = store(rados_subject.backend, payload(20 * MiB + 1, seed=12))
    stripes = sorted(rados_subject.stored())
    assert stripes == [f"{blob_id}.{index:08x}" for index in range(6)]
    ioctx = rados_subject.backend.ioctx  # type: ignore[attr-defined]
    assert [ioctx.stat(name)[0] for name in stripes] == [unit] * 5 + [1]


@pytest.mark.cluster
def test_rados_layout_is_the_pools(rados_pool: RadosPool) -> None:
    """A node configured with another stripe size still reads the pool's blobs the pool's way."""
    from stackbox.storage.rados_blobs import RadosBlobs

    namespace = rados_pool.namespace()
    pool, conf = rados_pool.name, str(rados_pool.conf)
    first = RadosBlobs.connect(pool, conf, namespace=namespace, stripe_size=MiB)
    second = RadosBlobs.connect(pool, conf, namespace=namespace, stripe_size=3 * MiB)
    try:
        assert second.stripe_size == MiB
        data = payload(5 * MiB + 3, seed=13)
        blob_id = store(first, data)
        assert read(second, blob_id, MiB - 1, 3 * MiB) == data[MiB - 1:4 * MiB - 1]
    finally:
        first.close()
        second.close()


@pytest.mark.cluster
@pytest.mark.parametrize("size", [10 * MiB, 40 * MiB])
def test_rados_failed_write_leaves_nothing(rados_pool: RadosPool, size: int) -> None:
    """Stripes above the cluster's osd_max_write_size (8 MiB in the test cluster) are refused:
    the failure surfaces in `write_all` or `commit`, and `abort` removes what did get stored."""
    from stackbox.storage.rados_blobs import RadosBlobs

    backend = RadosBlobs.connect(rados_pool.name, str(rados_pool.conf), namespace=rados_pool.namespace(),
                                 stripe_size=16 * MiB, write_window=1)
    try:
        small = store(backend, b"x" * 100)
        writer = backend.open_writer()
        with pytest.raises(OSError):
            _write(writer, payload(size, seed=14), piece=MiB)
            writer.commit()
        writer.abort()
        assert list(backend.scan()) == [small]
        assert {entry.key for entry in backend.ioctx.list_objects()} == {f"{small}.00000000", LAYOUT_OBJECT}
    finally:
        backend.close()


@pytest.mark.cluster
def test_rados_operations_time_out_when_the_osd_stalls(rados_pool: RadosPool,
                                                        ceph_cluster: CephCluster) -> None:
    """A stalled OSD makes reads and writes fail after the operation timeout (librados would wait
    forever); an abort that cannot reach the cluster returns, and what it left is collected later."""
    from stackbox.storage.rados_blobs import RadosBlobs

    backend = RadosBlobs.connect(rados_pool.name, str(rados_pool.conf), namespace=rados_pool.namespace(),
                                 op_timeout=2)
    osd = ceph_cluster.daemons.find("ceph-osd")
    try:
        data = payload(6 * MiB, seed=15)
        kept = store(backend, data)
        writer = backend.open_writer()
        os.kill(osd.pid, signal.SIGSTOP)
        try:
            began = time.monotonic()
            with pytest.raises(OSError) as timed_out:
                read(backend, kept, 0, len(data))
            assert timed_out.value.errno == errno.ETIMEDOUT
            with pytest.raises(OSError):
                _write(writer, data)
                writer.commit()
            writer.abort()
            assert time.monotonic() - began < 15
        finally:
            os.kill(osd.pid, signal.SIGCONT)
        assert read(backend, kept, 0, len(data)) == data
        deadline = time.monotonic() + 30
        expected = {f"{kept}.00000000", f"{kept}.00000001", LAYOUT_OBJECT}
        while {entry.key for entry in backend.ioctx.list_objects()} != expected:
            backend.collect_unfinished(older_than=time.time() + 5)
            assert time.monotonic() < deadline, "the aborted write's stripes were never collected"
            time.sleep(0.5)
    finally:
        backend.close()


@pytest.mark.cluster
def test_rados_from_url(rados_pool: RadosPool) -> None:
    from stackbox.storage.rados_blobs import RadosBlobs

    namespace = rados_pool.namespace()
    url = f"rados://{rados_pool.name}?conf={rados_pool.conf}&namespace={namespace}"
    backend = RadosBlobs.from_url(url)
    try:
        blob_id = store(backend, b"through the URL")
        assert backend.ioctx.get_namespace() == namespace
        assert read(backend, blob_id, 0, 15) == b"through the URL"
    finally:
        backend.close()
    with pytest.raises(FileNotFoundError):
        RadosBlobs.from_url(f"rados://no-such-pool?conf={rados_pool.conf}", op_timeout=5)
