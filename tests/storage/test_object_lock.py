"""Object Lock in the engine: what a lock refuses, inside the commit, whoever asks (S3, Swift,
housekeeping), and what it leaves alone."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from stackbox.storage.engine import Engine
from stackbox.storage.types import (
    ContainerNotEmpty,
    LockConfiguration,
    LockedVersioning,
    NoSuchVersion,
    ObjectAttrs,
    ObjectLock,
    ObjectLocked,
    ObjectLockNotEnabled,
)
from storage.conftest import ACCOUNT, chunks


@pytest.fixture
def vault(engine: Engine) -> str:
    assert engine.create_locked_container(ACCOUNT, "vault")
    assert not engine.create_locked_container(ACCOUNT, "vault")
    return "vault"


def held(seconds: float = 3600, mode: str = "GOVERNANCE") -> ObjectAttrs:
    return ObjectAttrs(lock=ObjectLock(mode, time.time() + seconds))  # type: ignore[arg-type]


async def test_locked_container_is_versioned_for_good(engine: Engine, vault: str) -> None:
    assert engine.get_container(ACCOUNT, vault).versioning == "enabled"
    assert engine.get_lock_configuration(ACCOUNT, vault) == LockConfiguration()
    with pytest.raises(LockedVersioning):
        engine.set_versioning(ACCOUNT, vault, "suspended")
    with pytest.raises(LockedVersioning):
        engine.put_lock_configuration(ACCOUNT, "box", LockConfiguration())
    assert engine.get_lock_configuration(ACCOUNT, "box") is None


async def test_a_lock_needs_a_locked_container(engine: Engine) -> None:
    with pytest.raises(ObjectLockNotEnabled):
        await engine.put_object(ACCOUNT, "box", "k", chunks(b"x"), attrs=held())
    assert engine.list_object_versions(ACCOUNT, "box").versions == []


async def test_protected_versions_survive_every_delete_path(engine: Engine, vault: str) -> None:
    # Expiry an hour ahead: the steps below run before it, whatever the machine's load.
    attrs = ObjectAttrs(delete_at=int(time.time()) + 3600, lock=ObjectLock(legal_hold=True))
    info = await engine.put_object(ACCOUNT, vault, "k", chunks(b"x"), attrs=attrs)
    assert info.version_id is not None
    with pytest.raises(ObjectLocked):
        await engine.delete(ACCOUNT, vault, "k", version_id=info.version_id, bypass_governance=True)
    # X-Delete-At passes: the expiry neither reaps the held version nor lets its container go.
    assert attrs.delete_at is not None and engine.reap_expired(now=attrs.delete_at + 10) == 0
    engine.set_object_lock(ACCOUNT, vault, "k", info.version_id, {"legal_hold": False})
    with pytest.raises(ContainerNotEmpty):
        engine.delete_container(ACCOUNT, vault)
    deletion = await engine.delete(ACCOUNT, vault, "k", version_id=info.version_id)
    assert deletion.existed


async def test_concurrent_deletes_and_holds_never_lose_a_held_version(engine: Engine, vault: str) -> None:
    written = [await engine.put_object(ACCOUNT, vault, f"k{i}", chunks(b"x")) for i in range(20)]
    versions = [info.version_id for info in written]

    async def hold(key: str, version: str) -> None:
        await asyncio.sleep(0)  # let the deletes queue up for their group commit first
        with contextlib.suppress(NoSuchVersion):  # deleted first
            engine.set_object_lock(ACCOUNT, vault, key, version, {"legal_hold": True})

    async def delete(key: str, version: str) -> bool:
        try:
            return (await engine.delete(ACCOUNT, vault, key, version_id=version)).existed
        except ObjectLocked:
            return False

    work = [(f"k{i}", version) for i, version in enumerate(versions) if version is not None]
    results = await asyncio.gather(*(delete(*item) for item in work), *(hold(*item) for item in work))
    deleted = {key for (key, _), gone in zip(work, results[:len(work)], strict=True) if gone}
    left = {entry.key for entry in engine.list_object_versions(ACCOUNT, vault).versions}
    assert deleted.isdisjoint(left) and deleted | left == {key for key, _ in work}
    for key, version in work:
        if key in left:
            assert engine.lock_state(ACCOUNT, vault, key, version).legal_hold


async def test_default_retention_is_applied_at_commit(engine: Engine, vault: str) -> None:
    engine.put_lock_configuration(ACCOUNT, vault, LockConfiguration("COMPLIANCE", default_days=2))
    info = await engine.put_object(ACCOUNT, vault, "k", chunks(b"x"))
    lock = engine.lock_state(ACCOUNT, vault, "k")
    assert lock.mode == "COMPLIANCE" and lock.retain_until is not None
    assert abs(lock.retain_until - (info.last_modified + 2 * 86400)) < 5
    assert lock.protects(time.time(), bypass_governance=True)
    assert not lock.protects(time.time() + 3 * 86400)
    explicit = await engine.put_object(ACCOUNT, vault, "j", chunks(b"x"), attrs=held(60))
    assert engine.lock_state(ACCOUNT, vault, "j", explicit.version_id).mode == "GOVERNANCE"


def test_lock_configuration_set_by_another_worker_is_seen_at_once(engine: Engine, tmp_path: Path,
                                                                  metadata: str) -> None:
    """Each worker caches a bucket's lock configuration (S3 reads it on every PUT without a checksum);
    a change made by any worker reaches the others' next request."""
    engine.create_container(ACCOUNT, "box")
    engine.set_versioning(ACCOUNT, "box", "enabled")
    assert engine.get_lock_configuration(ACCOUNT, "box") is None  # now cached in this worker
    other_worker = Engine(tmp_path / "data", metadata=metadata)
    governance, compliance = LockConfiguration("GOVERNANCE", default_days=1), LockConfiguration("COMPLIANCE",
                                                                                               default_days=2)
    try:
        other_worker.put_lock_configuration(ACCOUNT, "box", governance)
        assert engine.get_lock_configuration(ACCOUNT, "box") == governance
        engine.put_lock_configuration(ACCOUNT, "box", compliance)
        assert other_worker.get_lock_configuration(ACCOUNT, "box") == compliance
    finally:
        other_worker.close()
