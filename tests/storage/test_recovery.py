from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import stackbox
from stackbox.storage.engine import Engine
from storage.conftest import ACCOUNT, chunks, read_all
from storage.writer_process import ACCOUNT as CRASH_ACCOUNT
from storage.writer_process import content

WRITER = Path(__file__).with_name("writer_process.py")
#: The writer imports stackbox from the source tree this test runs (not the one the venv points at).
SOURCES = str(Path(stackbox.__file__).resolve().parents[1])


async def test_recover_removes_leftovers_and_keeps_data(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.create_container(ACCOUNT, "box")
    kept = await engine.put_object(ACCOUNT, "box", "kept", chunks(os.urandom(100_000)))
    await engine.put_object(ACCOUNT, "box", "freed", chunks(os.urandom(100_000)))
    engine.delete_object(ACCOUNT, "box", "freed")
    (tmp_path / "tmp" / "half-written").write_bytes(b"partial")
    orphan = engine._blobs.store.path("ab" * 16)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"renamed but never committed")
    engine.close()

    report = Engine.recover(tmp_path)

    assert (report.temp_files, report.orphan_blobs, report.freed_blobs) == (1, 1, 1)
    engine = Engine(tmp_path)
    assert list(engine._blobs.scan()) == [kept.extents[0].blob_id]
    data = await read_all(engine, engine.head_object(ACCOUNT, "box", "kept"))
    assert hashlib.md5(data).hexdigest() == kept.etag


class Acks:
    """Collects `<key> <version> <etag>` lines a writer process prints after each acknowledged write."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.latest: dict[str, tuple[int, str]] = {}
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() == "ready":
                self.ready.set()
                continue
            if not line.endswith("\n"):
                break  # cut short by the kill: not an acknowledgement
            key, version, etag = line.split()
            self.latest[key] = max(self.latest.get(key, (-1, "")), (int(version), etag))


def start_writer(data_dir: Path, name: str, metadata: str = "sqlite") -> tuple[subprocess.Popen[str], Acks]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WRITER.parent), SOURCES]),
           "WRITER_METADATA": metadata}
    process = subprocess.Popen([sys.executable, str(WRITER), str(data_dir), name], stdout=subprocess.PIPE,
                               text=True, env=env)
    return process, Acks(process)


@pytest.mark.timeout(60)
async def test_kill_9_during_concurrent_writes_loses_no_acknowledged_write(tmp_path: Path,
                                                                          metadata: str) -> None:
    """Two writer processes (two workers; on PostgreSQL, on one database) killed mid-flight."""
    Engine(tmp_path, metadata=metadata).close()
    writers = [start_writer(tmp_path, name, metadata) for name in ("one", "two")]
    for _, acks in writers:
        assert acks.ready.wait(20)
    time.sleep(1.5)
    # A loaded machine may ack fewer writes in that time: wait for enough of them (not for luck).
    deadline = time.monotonic() + 30
    while sum(len(acks.latest) for _, acks in writers) <= 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    for process, _ in writers:
        process.send_signal(signal.SIGKILL)
    for process, acks in writers:
        process.wait(10)
        acks.thread.join(10)
        assert process.stdout is not None
        process.stdout.close()
    acknowledged = {key: ack for _, acks in writers for key, ack in acks.latest.items()}
    assert len(acknowledged) > 20, "the writers should have written something before the kill"

    Engine.recover(tmp_path, metadata=metadata)
    engine = Engine(tmp_path, metadata=metadata)
    try:
        await check_acknowledged_writes_survived(engine, acknowledged)
        await check_nothing_partial_is_visible(engine)
        assert os.listdir(tmp_path / "tmp") == []
        assert set(engine._blobs.scan()) == engine._catalog.known_blobs()
    finally:
        engine.close()


async def check_acknowledged_writes_survived(engine: Engine,
                                             acknowledged: dict[str, tuple[int, str]]) -> None:
    for key, (version, etag) in acknowledged.items():
        found = engine.head_object(CRASH_ACCOUNT, "crash", key)
        data = await read_all(engine, found)
        stored_version = int(data.split(b":")[1])
        # An overwrite committed just before the kill may be newer than the last acknowledged one.
        assert stored_version >= version
        if stored_version == version:
            assert found.etag == etag


async def check_nothing_partial_is_visible(engine: Engine) -> None:
    listing = engine.list_objects(CRASH_ACCOUNT, "crash", limit=100_000)
    assert listing.objects
    for entry in listing.objects:
        obj = engine.head_object(CRASH_ACCOUNT, "crash", entry.key)
        data = await read_all(engine, obj)
        version = int(data.split(b":")[1])
        assert data == content(entry.key, version, obj.size)
        assert hashlib.md5(data).hexdigest() == obj.etag
