"""The catalog's S3 Object Lock (part of `metadata.Catalog`, split out for size): a container's lock
configuration, a version's retention and legal hold, and the rules that protect a locked version.

Every check is made inside the transaction that writes (a delete by version id, a retention
change), never before it: two requests cannot both pass a check and then both write.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import orjson

from stackbox.sql import Connection
from stackbox.storage.records import ContainerRef
from stackbox.storage.types import (
    NO_LOCK,
    NULL_VERSION,
    DeleteMarkerVersion,
    LockConfiguration,
    LockedVersioning,
    NoSuchContainer,
    NoSuchObject,
    NoSuchVersion,
    ObjectLock,
    ObjectLocked,
    ObjectLockNotEnabled,
)

#: SQL: a version that may not be deleted at the time bound to its `?` (legal hold or retention in
#: force). Housekeeping (X-Delete-At expiry, lifecycle) skips such rows.
PROTECTED = "(legal_hold = 1 OR (lock_mode IS NOT NULL AND lock_until > ?))"
#: The columns `lock_of` reads, in its order.
LOCK_COLUMNS = "lock_mode, lock_until, legal_hold"


def lock_of(mode: Any, until: Any, legal_hold: Any) -> ObjectLock:
    if mode is None and not legal_hold:
        return NO_LOCK
    return ObjectLock(mode, None if until is None else float(until), bool(legal_hold))


def may_change_retention(current: ObjectLock, wanted: ObjectLock, now: float, *,
                         bypass_governance: bool) -> bool:
    """S3's rules: a retention in force may be extended in its mode; COMPLIANCE is never shortened,
    removed or turned into GOVERNANCE; GOVERNANCE is shortened, removed or made COMPLIANCE only
    with the governance bypass."""
    if not current.retained(now):
        return True
    keeps = (wanted.mode == current.mode and wanted.retain_until is not None
             and current.retain_until is not None and wanted.retain_until >= current.retain_until)
    if keeps:
        return True
    return current.mode == "GOVERNANCE" and bypass_governance


class LockRecords:
    """Object Lock records; mixed into `metadata.Catalog`, whose transactions it uses."""

    conn: Connection

    def write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def meta_write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def create_locked_container(self, account: str, name: str, meta: Mapping[str, str]) -> bool:
        """Creates a container with Object Lock on and versioning enabled, in one transaction; False
        (nothing changed) if it existed."""
        now = time.time()
        with self.meta_write() as conn:
            conn.execute("INSERT OR IGNORE INTO account (name, created) VALUES (?, ?)", (account, now))
            cursor = conn.execute(
                "INSERT OR IGNORE INTO container (account, name, created, meta, last_modified, versioning, "
                "object_lock) VALUES (?, ?, ?, ?, ?, 'enabled', ?)",
                (account, name, now, orjson.dumps(dict(meta)).decode(), now, _encode(LockConfiguration())))
            return cursor.rowcount == 1

    def lock_configuration(self, account: str, name: str) -> LockConfiguration | None:
        row = self.conn.execute("SELECT object_lock FROM container WHERE account = ? AND name = ?",
                                (account, name)).fetchone()
        if row is None:
            raise NoSuchContainer(f"{account}/{name}")
        return _decode(row[0])

    def set_lock_configuration(self, account: str, name: str, config: LockConfiguration) -> None:
        """Turns Object Lock on (for good) or replaces its default retention; the container's
        versioning must be enabled (LockedVersioning)."""
        with self.meta_write() as conn:
            row = conn.execute("SELECT versioning FROM container WHERE account = ? AND name = ?",
                               (account, name)).fetchone()
            if row is None:
                raise NoSuchContainer(f"{account}/{name}")
            if row[0] != "enabled":
                raise LockedVersioning("versioning must be enabled to apply an Object Lock configuration")
            conn.execute("UPDATE container SET object_lock = ? WHERE account = ? AND name = ?",
                         (_encode(config), account, name))

    def set_object_lock(self, account: str, container: str, key: str, version_id: str | None,
                        changes: Mapping[str, Any], now: float, *,
                        bypass_governance: bool = False) -> ObjectLock:
        """Sets a version's retention (`mode` and `retain_until`, both None to remove it) and/or its
        `legal_hold`, as S3's rules allow (ObjectLocked otherwise); returns the new state. Errors of
        a missing version as `metadata.visible`; ObjectLockNotEnabled without lock on the container."""
        with self.write() as conn:
            ref = _locked_container(conn, account, container)
            row_id, current = _version_lock(conn, ref, key, version_id, now)
            wanted = ObjectLock(changes.get("mode", current.mode),
                                changes.get("retain_until", current.retain_until),
                                changes.get("legal_hold", current.legal_hold))
            if "mode" in changes and not may_change_retention(current, wanted, now,
                                                              bypass_governance=bypass_governance):
                raise ObjectLocked(f"{account}/{container}/{key}")
            conn.execute("UPDATE object SET lock_mode = ?, lock_until = ?, legal_hold = ? WHERE id = ?",
                         (wanted.mode, wanted.retain_until, int(wanted.legal_hold), row_id))
            return lock_of(wanted.mode, wanted.retain_until, wanted.legal_hold)

    def _new_version_lock(self, conn: Connection, ref: ContainerRef, asked: ObjectLock | None,
                          now: float) -> ObjectLock | None:
        """The lock a new version gets: the one asked (ObjectLockNotEnabled without lock on the
        container), else the container's default retention. Only locked containers (always
        versioning "enabled") pay the lookup."""
        if asked is None and ref.versioning != "enabled":
            return None
        row = conn.execute("SELECT object_lock FROM container WHERE id = ?", (ref.id,)).fetchone()
        config = _decode(row[0] if row else None)
        if config is None:
            if asked is not None and asked != NO_LOCK:
                raise ObjectLockNotEnabled(f"{ref.account}/{ref.name}")
            return None
        return asked if asked is not None else config.default_lock(now)

    def _store_lock(self, conn: Connection, container_id: int, key: str, lock: ObjectLock) -> None:
        """Locks the key's current version (the one just written)."""
        conn.execute("UPDATE object SET lock_mode = ?, lock_until = ?, legal_hold = ? "
                     "WHERE container_id = ? AND key = ? AND latest = 1",
                     (lock.mode, lock.retain_until, int(lock.legal_hold), container_id, key))

    def _check_deletable(self, conn: Connection, row_id: int, now: float, *,
                         bypass_governance: bool) -> None:
        """ObjectLocked if the version may not be deleted for good now."""
        row = conn.execute(f"SELECT {LOCK_COLUMNS} FROM object WHERE id = ?", (row_id,)).fetchone()
        if row is not None and lock_of(*row).protects(now, bypass_governance=bypass_governance):
            raise ObjectLocked(f"version row {row_id}")


def _locked_container(conn: Connection, account: str, name: str) -> ContainerRef:
    row = conn.execute("SELECT id, versioning, object_lock FROM container WHERE account = ? AND name = ?",
                       (account, name)).fetchone()
    if row is None:
        raise NoSuchContainer(f"{account}/{name}")
    if row[2] is None:
        raise ObjectLockNotEnabled(f"{account}/{name}")
    return ContainerRef(row[0], account, name, row[1])


def _version_lock(conn: Connection, ref: ContainerRef, key: str, version_id: str | None,
                  now: float) -> tuple[int, ObjectLock]:
    """(row id, lock) of the current or named version, which must be a live object."""
    params: tuple[str, ...] = ()
    if version_id is None:
        clause = "latest = 1"
    elif version_id == NULL_VERSION:
        clause = "is_null = 1"
    else:
        clause, params = "version = ?", (version_id,)
    row = conn.execute(
        f"SELECT id, marker, {LOCK_COLUMNS} FROM object WHERE container_id = ? AND key = ? AND {clause} "
        "AND (delete_at IS NULL OR delete_at > ?)", (ref.id, key, *params, now)).fetchone()
    name = f"{ref.account}/{ref.name}/{key}"
    if row is None:
        raise NoSuchVersion(name) if version_id is not None else NoSuchObject(name)
    if row[1]:
        if version_id is not None:
            raise DeleteMarkerVersion(version_id)
        raise NoSuchObject(name, delete_marker=True)
    return row[0], lock_of(*row[2:])


def _encode(config: LockConfiguration) -> str:
    return orjson.dumps({"mode": config.default_mode, "days": config.default_days,
                         "years": config.default_years}).decode()


def _decode(raw: str | bytes | None) -> LockConfiguration | None:
    if raw is None:
        return None
    document: dict[str, Any] = orjson.loads(raw)
    return LockConfiguration(document.get("mode"), document.get("days"), document.get("years"))

