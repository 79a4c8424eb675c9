"""Who may touch the blobs in RADOS: cephx users get exactly what their capabilities grant.

The test cluster runs cephx with generated keys; these tests make users as an operator would
(one per node, or one per tenant namespace) and check that each is refused outside its grant.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backends.cluster import CephCluster
from backends.conftest import RadosPool

pytestmark = pytest.mark.cluster
rados = pytest.importorskip("rados", reason="python3-rados is not importable from this environment")

from stackbox.storage.rados_blobs import RadosBlobs  # noqa: E402


def connect(pool: RadosPool, conf: Path | None = None, client_id: str | None = None,
            namespace: str = "") -> RadosBlobs:
    return RadosBlobs.connect(pool.name, str(conf or pool.conf), client_id, namespace=namespace,
                              op_timeout=10)


def read_as_owner(pool: RadosPool, namespace: str, blob_id: str, length: int) -> bytes:
    owner = connect(pool, namespace=namespace)
    try:
        return b"".join(owner.read(blob_id, 0, length))
    finally:
        owner.close()


def stored_blob(pool: RadosPool, namespace: str, data: bytes) -> str:
    owner = connect(pool, namespace=namespace)
    try:
        writer = owner.open_writer()
        writer.write(data)
        writer.commit()
        return writer.blob_id
    finally:
        owner.close()


def test_a_user_of_another_pool_is_refused(rados_pool: RadosPool, ceph_cluster: CephCluster) -> None:
    namespace = rados_pool.namespace()
    blob_id = stored_blob(rados_pool, namespace, b"secret")
    conf = ceph_cluster.add_client("elsewhere", "mon", "allow r", "osd", "allow rw pool=elsewhere")
    with pytest.raises(PermissionError):
        connect(rados_pool, conf, "elsewhere", namespace)
    cluster = rados.Rados(conffile=str(conf), rados_id="elsewhere")
    cluster.connect(timeout=10)
    try:
        ioctx = cluster.open_ioctx(rados_pool.name)
        ioctx.set_namespace(namespace)
        with pytest.raises(rados.PermissionError):
            ioctx.read(f"{blob_id}.00000000", 6, 0)
        with pytest.raises(rados.PermissionError):
            ioctx.remove_object(f"{blob_id}.00000000")
        ioctx.close()
    finally:
        cluster.shutdown()
    assert read_as_owner(rados_pool, namespace, blob_id, 6) == b"secret"


def test_a_tenant_confined_to_its_namespace(rados_pool: RadosPool, ceph_cluster: CephCluster) -> None:
    mine, theirs = rados_pool.namespace(), rados_pool.namespace()
    their_blob = stored_blob(rados_pool, theirs, b"theirs")
    conf = ceph_cluster.add_client(f"tenant-{mine}", "mon", "allow r",
                                   "osd", f"allow rw pool={rados_pool.name} namespace={mine}")
    own = connect(rados_pool, conf, f"tenant-{mine}", mine)
    try:
        writer = own.open_writer()
        writer.write(b"mine")
        writer.commit()
        assert b"".join(own.read(writer.blob_id, 0, 4)) == b"mine"
        own.ioctx.set_namespace(theirs)  # the same handle, pointed at the other tenant's blobs
        with pytest.raises(PermissionError):
            b"".join(own.read(their_blob, 0, 6))
        with pytest.raises(PermissionError):
            own.delete(their_blob)
        try:
            listed = list(own.scan())
        except PermissionError:
            listed = []
        assert listed == [], f"listed another tenant's blobs: {listed}"
    finally:
        own.close()
    with pytest.raises(PermissionError):
        connect(rados_pool, conf, f"tenant-{mine}", theirs)
    assert read_as_owner(rados_pool, theirs, their_blob, 6) == b"theirs"


def test_a_read_only_user_cannot_write_or_delete(rados_pool: RadosPool, ceph_cluster: CephCluster) -> None:
    namespace = rados_pool.namespace()
    blob_id = stored_blob(rados_pool, namespace, b"read me")
    conf = ceph_cluster.add_client(f"reader-{namespace}", "mon", "allow r",
                                   "osd", f"allow r pool={rados_pool.name}")
    reader = connect(rados_pool, conf, f"reader-{namespace}", namespace)
    try:
        assert b"".join(reader.read(blob_id, 0, 7)) == b"read me"
        writer = reader.open_writer()
        writer.write(b"x" * 100)
        with pytest.raises(PermissionError):
            writer.commit()
        writer.abort()
        with pytest.raises(PermissionError):
            reader.delete(blob_id)
    finally:
        reader.close()
    assert read_as_owner(rados_pool, namespace, blob_id, 7) == b"read me"


def test_a_wrong_key_is_refused(rados_pool: RadosPool, ceph_cluster: CephCluster, tmp_path: Path) -> None:
    keyring = tmp_path / "forged.keyring"
    forged = re.sub(r"(\[client\.admin\]\s+key = )\S+", r"\1AQBmZ2VpAAAAABAAYWJjZGVmZ2hpamtsbW5vcHFyc3Q=",
                    ceph_cluster.keyring.read_text())
    assert forged != ceph_cluster.keyring.read_text()
    keyring.write_text(forged)
    conf = tmp_path / "forged.conf"
    conf.write_text(ceph_cluster.conf.read_text().replace(f"keyring = {ceph_cluster.keyring}",
                                                          f"keyring = {keyring}"))
    with pytest.raises(PermissionError):
        connect(rados_pool, conf)
