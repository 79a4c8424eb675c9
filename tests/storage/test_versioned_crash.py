"""kill -9 during concurrent writes into a versioned container: every acknowledged version is kept,
readable by its id with its data, and no partial version is visible."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stackbox
from stackbox.storage.engine import Engine
from storage.conftest import read_all
from storage.writer_process import ACCOUNT, content

WRITER = Path(__file__).with_name("writer_process.py")
#: The writer imports stackbox from the source tree this test runs (not the one the venv points at).
SOURCES = str(Path(stackbox.__file__).resolve().parents[1])


@pytest.mark.timeout(60)
async def test_kill_9_during_versioned_writes_loses_no_acknowledged_version(tmp_path: Path) -> None:
    Engine(tmp_path).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WRITER.parent), SOURCES])}
    process = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path), "v", "versioned"],
                               stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    # A loaded machine may ack fewer writes in that time: wait for enough of them (not for luck).
    first = "".join(process.stdout.readline() for _ in range(21))
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    # Only newline-terminated lines are acknowledgements: the kill may cut the last one short.
    acknowledged = [line.split() for line in (first + process.stdout.read()).split("\n")[:-1]]
    process.stdout.close()
    assert len(acknowledged) > 20, "the writer should have written something before the kill"

    Engine.recover(tmp_path)
    engine = Engine(tmp_path)
    try:
        for key, version, etag, version_id in acknowledged:
            found = engine.head_object(ACCOUNT, "crash", key, version_id)
            assert found.etag == etag
            assert await read_all(engine, found) == content(key, int(version), found.size)
        listed = engine.list_object_versions(ACCOUNT, "crash", limit=100_000).versions
        assert {(key, version_id) for key, _, _, version_id in acknowledged} <= {
            (entry.key, entry.version_id) for entry in listed}
        for entry in listed:
            data = await read_all(engine, engine.head_object(ACCOUNT, "crash", entry.key, entry.version_id))
            assert hashlib.md5(data).hexdigest() == entry.etag
        assert sum(entry.latest for entry in listed) == len({entry.key for entry in listed})
        assert os.listdir(tmp_path / "tmp") == []
        assert set(engine._blobs.scan()) == engine._catalog.known_blobs()
    finally:
        engine.close()
