"""Identity on PostgreSQL with several nodes: keys shared through the database under one cluster key file,
bootstrap racing itself, nodes with the wrong (or no) key file refused, store work off the event loop.

Each node is an IdentityService with its own data dir (its own epoch counter), as on another machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from cloud import BIN
from stackbox.config import Settings
from stackbox.epoch import SharedCounter
from stackbox.identity.bootstrap import bootstrap
from stackbox.identity.keys import ClusterKeyError, create_cluster_key
from stackbox.identity.service import IdentityService, ec2_credential_id
from stackbox.identity.tokens import TokenPayload
from stackbox.storage.keys import KeyService
from stackbox.storage.types import DataCorrupted


def _node(root: Path, name: str, url: str, key_file: Path) -> Settings:
    return Settings(data_dir=root / name, metadata_url=url, cluster_key_file=str(key_file))


def _service(settings: Settings) -> IdentityService:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return IdentityService(settings, SharedCounter(settings.data_dir / "auth-epoch"))


@pytest.fixture
def nodes(tmp_path: Path, postgres_url: str) -> tuple[Settings, Settings]:
    key_file = tmp_path / "cluster.key"
    return _node(tmp_path, "node1", postgres_url, key_file), _node(tmp_path, "node2", postgres_url, key_file)


def _admin_token(service: IdentityService) -> str:
    user = service.store.user_by_name("admin", "default")
    project = service.store.project_by_name("admin", "default")
    assert user is not None and project is not None
    issued = service.issue(TokenPayload.issue(user["id"], ("password",), 3600, project_id=project["id"]))
    assert issued is not None
    return issued[0]


def test_first_start_makes_the_key_file_and_one_set_of_keys(nodes: tuple[Settings, Settings]) -> None:
    first, second = nodes
    assert bootstrap(first).admin_password is not None
    key_file = first.cluster_key_path
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert bootstrap(second).admin_password is None  # the admin exists already
    one, two = _service(first), _service(second)
    try:
        assert one.keys == two.keys
        assert one.keys.kms_master is not None and len(one.keys.kms_master) == 32
        assert not (first.data_dir / "keys").exists()  # nothing on the node's disk but the key file
    finally:
        one.close()
        two.close()


def test_a_token_from_one_node_validates_on_the_other(nodes: tuple[Settings, Settings]) -> None:
    bootstrap(nodes[0])
    bootstrap(nodes[1])
    one, two = _service(nodes[0]), _service(nodes[1])
    try:
        token = _admin_token(one)
        context = two.validate_token(token)
        assert context is not None and context.user_name == "admin" and "admin" in context.roles
        assert two.validate_token(token[:-4] + "AAAA") is None
    finally:
        one.close()
        two.close()


def test_an_ec2_pair_made_on_one_node_verifies_on_the_other(nodes: tuple[Settings, Settings]) -> None:
    bootstrap(nodes[0])
    one, two = _service(nodes[0]), _service(nodes[1])
    try:
        user = one.store.user_by_name("admin", "default")
        project = one.store.project_by_name("admin", "default")
        assert user is not None and project is not None
        access = "b" * 32
        one.store.insert("credential", {
            "id": ec2_credential_id(access), "type": "ec2", "user_id": user["id"],
            "project_id": project["id"], "created_at": time.time(),
            "encrypted_blob": one.secrets.seal(json.dumps({"access": access, "secret": "shared-secret"}))})
        pair = two.ec2_secret(access)
        assert pair is not None and pair.secret == "shared-secret" and pair.context.project_name == "admin"
        assert two.ec2_secret("c" * 32) is None
    finally:
        one.close()
        two.close()


def test_nodes_bootstrapping_at_once_make_one_admin_and_one_set_of_keys(
        tmp_path: Path, postgres_url: str) -> None:
    key_file = tmp_path / "cluster.key"
    create_cluster_key(key_file)
    settings = [_node(tmp_path, f"node{index}", postgres_url, key_file) for index in range(4)]
    with ThreadPoolExecutor(len(settings)) as pool:
        results = list(pool.map(bootstrap, settings))
    assert sum(result.admin_password is not None for result in results) == 1
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute('SELECT count(*) FROM "user"').fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM role").fetchone() == (5,)
        assert conn.execute("SELECT count(*) FROM identity_key").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM endpoint").fetchone() == (6,)


def test_a_node_with_another_key_file_refuses_to_start(nodes: tuple[Settings, Settings], tmp_path: Path
                                                       ) -> None:
    bootstrap(nodes[0])
    other_key = tmp_path / "other.key"
    create_cluster_key(other_key)
    stranger = replace(nodes[1], cluster_key_file=str(other_key))
    with pytest.raises(ClusterKeyError, match="does not open the keys"):
        bootstrap(stranger)
    with pytest.raises(ClusterKeyError, match="does not open the keys"):
        _service(stranger)


def test_a_node_without_the_key_file_refuses_to_start(nodes: tuple[Settings, Settings], tmp_path: Path
                                                      ) -> None:
    bootstrap(nodes[0])
    missing = replace(nodes[1], cluster_key_file=str(tmp_path / "nowhere" / "cluster.key"))
    with pytest.raises(ClusterKeyError, match="is missing"):
        bootstrap(missing)
    assert not (tmp_path / "nowhere" / "cluster.key").exists()  # it is copied, never made up


def test_a_key_file_others_can_read_is_refused(nodes: tuple[Settings, Settings]) -> None:
    bootstrap(nodes[0])
    nodes[0].cluster_key_path.chmod(0o644)
    with pytest.raises(ClusterKeyError, match="chmod 600"):
        _service(nodes[1])


def test_a_key_file_that_is_no_key_is_refused(nodes: tuple[Settings, Settings]) -> None:
    nodes[0].cluster_key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(nodes[0].cluster_key_path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(ClusterKeyError, match="is not a cluster key file"):
        bootstrap(nodes[0])


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STACKBOX_")}
    return subprocess.run([str(BIN / "stackbox"), *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=120)


def test_cluster_key_create_and_a_refused_start_on_the_command_line(
        nodes: tuple[Settings, Settings], tmp_path: Path) -> None:
    key_file = tmp_path / "made.key"
    created = _cli("cluster-key", "create", str(key_file), env={})
    assert created.returncode == 0, created.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    again = _cli("cluster-key", "create", str(key_file), env={})
    assert again.returncode == 1 and "exists" in again.stderr
    assert key_file.read_bytes() == content

    env = {"STACKBOX_METADATA": nodes[0].metadata_url, "STACKBOX_CLUSTER_KEY_FILE": str(key_file)}
    first = _cli("bootstrap", "--data-dir", str(tmp_path / "a"), env=env)
    assert first.returncode == 0, first.stderr
    wrong = tmp_path / "wrong.key"
    create_cluster_key(wrong)
    refused = _cli("serve", "--data-dir", str(tmp_path / "b"), "--identity-port", "1", "--object-port", "1",
                   env={**env, "STACKBOX_CLUSTER_KEY_FILE": str(wrong)})
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not open the keys" in lines[0] and str(wrong) in lines[0]


def test_a_store_miss_waits_off_the_event_loop(nodes: tuple[Settings, Settings]) -> None:
    """While the database holds a lookup up, the event loop keeps running; a cached answer needs no
    database at all."""
    bootstrap(nodes[0])
    one, two = _service(nodes[0]), _service(nodes[1])
    try:
        assert two.remote
        token = _admin_token(one)
        cached = _admin_token(one)
        assert two.validate_token(cached) is not None

        async def scenario() -> None:
            ticks = 0
            released = threading.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not released.is_set():
                    ticks += 1
                    await asyncio.sleep(0.01)

            with psycopg.connect(nodes[0].metadata_url) as blocker:
                blocker.execute('LOCK TABLE "user" IN ACCESS EXCLUSIVE MODE')
                ticking = asyncio.create_task(ticker())
                lookup = asyncio.create_task(two.validate_token_async(token))
                assert await two.validate_token_async(cached) is not None  # the cache, inline
                while ticks < 20:  # the loop runs on while the lookup waits for the lock
                    await asyncio.sleep(0.01)
                assert not lookup.done()
                blocker.rollback()
            context = await asyncio.wait_for(lookup, 60)
            released.set()
            await ticking
            assert context is not None and context.user_name == "admin"

        asyncio.run(scenario())
    finally:
        one.close()
        two.close()


def test_migrate_creates_the_identity_schema_once(tmp_path: Path, postgres_url: str) -> None:
    env = {"STACKBOX_METADATA": postgres_url}
    created = _cli("migrate", "--data-dir", str(tmp_path / "data"), env=env)
    assert created.returncode == 0, created.stderr
    identity = [line for line in created.stdout.splitlines() if line.startswith("identity (postgresql://")]
    assert len(identity) == 1 and identity[0].endswith("): created at schema 1"), created.stdout
    again = _cli("migrate", "--data-dir", str(tmp_path / "data"), env=env)
    last = again.stdout.splitlines()[-1]
    assert last.startswith("identity (postgresql://") and last.endswith("): schema 1, current")
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE schema_version SET version = 2 WHERE component = 'identity'")
    refused = _cli("migrate", "--data-dir", str(tmp_path / "data"), env=env)
    assert refused.returncode == 1 and "identity schema" in refused.stderr
    assert "Traceback" not in refused.stderr
    embedded = _cli("migrate", "--data-dir", str(tmp_path / "embedded"), env={})
    assert embedded.stdout.splitlines()[-1] == f"identity ({tmp_path / 'embedded' / 'identity.db'}): " \
        "created at schema 1"


def test_the_kms_master_key_is_the_clusters_shared_one(nodes: tuple[Settings, Settings], tmp_path: Path
                                                       ) -> None:
    """On PostgreSQL the KMS master key comes from the database, under the cluster key: no master.key."""
    bootstrap(nodes[0])
    one = _service(nodes[0])
    try:
        master = one.keys.kms_master
    finally:
        one.close()
    assert master is not None
    directory = tmp_path / "kms"
    writer = KeyService(directory, master_key=master)
    record = writer.resolve(None)
    wrapped = writer.wrap(record, b"d" * 32, b"context")
    assert KeyService(directory, master_key=master).unwrap(record.key_id, wrapped, b"context") == b"d" * 32
    assert not (directory / "master.key").exists()
    with pytest.raises(DataCorrupted):
        KeyService(directory, master_key=os.urandom(32)).unwrap(record.key_id, wrapped, b"context")

    env = {"STACKBOX_METADATA": nodes[0].metadata_url,
           "STACKBOX_CLUSTER_KEY_FILE": str(nodes[0].cluster_key_path)}
    listed = _cli("kms", "list", "--data-dir", str(nodes[0].data_dir), env=env)
    assert listed.returncode == 0, listed.stderr
    wrong = tmp_path / "wrong.key"
    create_cluster_key(wrong)
    refused = _cli("kms", "list", "--data-dir", str(nodes[0].data_dir),
                   env={**env, "STACKBOX_CLUSTER_KEY_FILE": str(wrong)})
    assert refused.returncode == 1 and "does not open the keys" in refused.stderr
