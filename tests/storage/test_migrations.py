"""The catalog's schema version: a data dir of the previous release is upgraded in place, atomically;
a newer one is refused."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from stackbox.storage import schema
from stackbox.storage.engine import Engine
from stackbox.storage.types import NULL_VERSION, ObjectAttrs, SchemaTooNew, SegmentRef
from storage.conftest import chunks, read_all

FIXTURE = Path(__file__).parent / "fixtures" / "schema1"
DEMO = "AUTH_demo"


def old_store(tmp_path: Path) -> Path:
    """A data dir as the release before versions wrote it (fixtures/schema1/README.md)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copytree(FIXTURE / "blobs", data / "blobs")
    conn = sqlite3.connect(data / "meta.db")
    conn.executescript((FIXTURE / "meta.sql").read_text())
    conn.close()
    return data


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


async def test_a_previous_release_store_upgrades_with_its_data(tmp_path: Path) -> None:
    data = old_store(tmp_path)
    assert Engine.recover(data).orphan_blobs == 0
    engine = Engine(data)
    try:
        assert user_version(data / "meta.db") == schema.SCHEMA_VERSION
        photos = engine.get_container(DEMO, "photos")
        assert (photos.meta, photos.object_count, photos.versioning) == (
            {"meta:color": "blue"}, 5, "unversioned")
        assert engine.get_account(DEMO).meta == {"meta:owner": "demo"}
        small = engine.head_object(DEMO, "photos", "small.txt")
        assert (small.tags, small.meta, small.version_id) == ({"t": "v"}, {"meta:a": "1"}, None)
        assert await read_all(engine, small) == b"hello versions"
        big = engine.head_object(DEMO, "photos", "dir/big.bin")
        assert big.checksum is not None and big.headers == {"Cache-Control": "no-cache"}
        assert await read_all(engine, big) == b"x" * 70000
        assert await read_all(engine, engine.head_object(DEMO, "photos", "dir/copy.bin")) == b"x" * 70000
        assembled = engine.head_object(DEMO, "photos", "assembled.bin")
        assert len(assembled.parts) == 2 and await read_all(engine, assembled) == b"a" * 5000 + b"b" * 100
        assert engine.head_object(DEMO, "photos", "expiring").delete_at == 4102444800
        [upload] = engine.list_uploads(DEMO, "photos").uploads
        assert (upload.key, upload.attrs.content_type) == ("multi.bin", "video/mp4")
        part = await engine.put_part(DEMO, "photos", upload.upload_id, 2, chunks(b"q" * 10))
        [first, _] = engine.list_parts(DEMO, "photos", upload.upload_id)[0]
        done = engine.complete_upload(DEMO, "photos", upload.upload_id, [(1, first.etag), (2, part.etag)])
        assert await read_all(engine, done) == b"p" * 6000 + b"q" * 10
        versions = engine.list_object_versions(DEMO, "photos").versions
        assert {version.version_id for version in versions} == {NULL_VERSION}
        engine.set_versioning(DEMO, "photos", "enabled")
        again = await engine.put_object(DEMO, "photos", "small.txt", chunks(b"v2"))
        assert again.version_id not in (None, NULL_VERSION)
        assert await read_all(engine, engine.head_object(DEMO, "photos", "small.txt", NULL_VERSION)) == (
            b"hello versions")
    finally:
        engine.close()


def test_a_crash_mid_upgrade_leaves_the_old_schema(tmp_path: Path) -> None:
    data = old_store(tmp_path)
    conn = sqlite3.connect(data / "meta.db", isolation_level=None)

    def crash(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        schema.upgrade(conn, str(data), before_commit=crash)
    conn.close()
    assert user_version(data / "meta.db") == 0
    old = sqlite3.connect(data / "meta.db")
    columns = [row[1] for row in old.execute("PRAGMA table_info(object)")]
    assert "version" not in columns and old.execute("SELECT COUNT(*) FROM object").fetchone()[0] == 5
    old.close()
    Engine(data).close()  # the next start upgrades it
    assert user_version(data / "meta.db") == schema.SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Engine(data).close()
    conn = sqlite3.connect(data / "meta.db")
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer stackbox"):
        Engine.recover(data)


def test_serve_refuses_a_newer_data_dir_with_a_clear_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Engine(data).close()
    conn = sqlite3.connect(data / "meta.db")
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    done = subprocess.run([sys.executable, "-m", "stackbox.cli", "serve", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "written by a newer stackbox" in done.stderr and "Traceback" not in done.stderr


async def test_schema_3_bytes_used_come_to_count_every_version(tmp_path: Path) -> None:
    """Schema 3 counted the current objects' bytes only; the upgrade counts every version's."""
    data = tmp_path / "data"
    engine = Engine(data)
    try:
        engine.create_container(DEMO, "box")
        engine.set_versioning(DEMO, "box", "enabled")
        for body in (b"12345", b"123"):
            await engine.put_object(DEMO, "box", "k", chunks(body))
        await engine.delete(DEMO, "box", "k")
    finally:
        engine.close()
    conn = sqlite3.connect(data / "meta.db")
    with conn:
        conn.execute("UPDATE container SET bytes_used = 0")  # as schema 3 kept it: no current object
        conn.execute("PRAGMA user_version = 3")
    conn.close()
    engine = Engine(data)
    try:
        assert user_version(data / "meta.db") == schema.SCHEMA_VERSION
        box = engine.get_container(DEMO, "box")
        assert (box.object_count, box.bytes_used) == (0, 8)
        assert engine.get_account(DEMO).bytes_used == 8
    finally:
        engine.close()


async def test_schema_4_slo_bytes_come_to_count_their_manifest(tmp_path: Path) -> None:
    """Schema 4 counted a static large object's data; the upgrade counts its manifest, as Swift does."""
    data = tmp_path / "data"
    engine = Engine(data)
    document = b'[{"name": "/box/seg"}]'
    try:
        engine.create_container(DEMO, "box")
        await engine.put_object(DEMO, "box", "seg", chunks(b"x" * 1000))
        engine.put_manifest_object(DEMO, "box", "slo", [SegmentRef("box", "seg")],
                                   attrs=ObjectAttrs(manifest=document))
        assert engine.get_container(DEMO, "box").bytes_used == 1000 + len(document)
    finally:
        engine.close()
    conn = sqlite3.connect(data / "meta.db")
    with conn:
        conn.execute("UPDATE container SET bytes_used = 2000")  # as schema 4 counted it
        conn.execute("PRAGMA user_version = 4")
    conn.close()
    engine = Engine(data)
    try:
        assert user_version(data / "meta.db") == schema.SCHEMA_VERSION
        assert engine.get_container(DEMO, "box").bytes_used == 1000 + len(document)
        engine.delete_object(DEMO, "box", "slo")
        assert engine.get_container(DEMO, "box").bytes_used == 1000
    finally:
        engine.close()
