"""The SSE keys of nodes that share a PostgreSQL catalog: one key set in the database, sealed under the
master.key every node has; a node without it is refused, a change made through one node holds on all."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackbox.storage.engine import Engine
from stackbox.storage.keys import KeyService
from stackbox.storage.types import DataCorrupted, Encryption, KeyDisabled, ObjectAttrs
from storage.conftest import ACCOUNT, chunks, read_all

SSE_S3 = ObjectAttrs(encryption=Encryption("AES256"))


@pytest.fixture
def node_one(tmp_path: Path, postgres_url: str) -> Iterator[Engine]:
    engine = Engine(tmp_path / "one", metadata=postgres_url)
    engine.create_container(ACCOUNT, "box")
    yield engine
    engine.close()


async def test_a_node_with_the_master_key_reads_what_another_encrypted(node_one: Engine, tmp_path: Path,
                                                                        postgres_url: str) -> None:
    obj = await node_one.put_object(ACCOUNT, "box", "small", chunks(b"secret" * 100), attrs=SSE_S3)
    assert obj.sealing is not None
    (tmp_path / "two" / "kms").mkdir(parents=True)
    (tmp_path / "two" / "blobs").symlink_to(tmp_path / "one" / "blobs")  # as a shared RADOS pool
    shutil.copy(tmp_path / "one" / "kms" / "master.key", tmp_path / "two" / "kms" / "master.key")
    node_two = Engine(tmp_path / "two", metadata=postgres_url)
    try:
        assert not (tmp_path / "one" / "kms" / "keys.json").exists()
        found = node_two.head_object(ACCOUNT, "box", "small")
        assert await read_all(node_two, found) == b"secret" * 100
        team = node_one.keys.create(alias="team")
        assert [record.alias for record in node_two.keys.list()] == ["alias/aws/s3", "alias/team"]
        node_two.keys.set_enabled(obj.sealing.key_id, False)
        with pytest.raises(KeyDisabled):
            node_one.read(node_one.head_object(ACCOUNT, "box", "small"))
        node_one.keys.rotate(team.key_id)
        assert len(node_two.keys.resolve("alias/team").versions) == 2
    finally:
        node_two.close()


async def test_a_node_without_the_master_key_is_refused(node_one: Engine, tmp_path: Path,
                                                        postgres_url: str) -> None:
    obj = await node_one.put_object(ACCOUNT, "box", "small", chunks(b"secret"), attrs=SSE_S3)
    stranger = KeyService(tmp_path / "stranger" / "kms", node_one.keys.database)
    with pytest.raises(DataCorrupted, match=r"copy master\.key"):
        assert obj.sealing is not None
        stranger.unwrap(obj.sealing.key_id, obj.sealing.wrapped_key, b"")
    assert not (tmp_path / "stranger" / "kms" / "master.key").exists()
