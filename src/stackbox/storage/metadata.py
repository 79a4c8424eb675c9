"""The metadata catalog in SQLite: accounts, containers, object versions, blob references, uploads, parts.

Objects are versions (`schema` describes the table): a write adds a version as the container's
versioning state says, a delete removes the null version or adds a delete marker, and deleting a
version by id makes the next newest one current.

Every public method is one atomic transaction (or one read). The engine is the only caller, so a
PostgreSQL catalog with the same methods could replace this one. Blob reference counts live here:
`refs` counts the extents (of objects and of upload parts) that point into a blob; a blob whose
count drops to 0 is marked with `freed_at` and its file is deleted by `purge_freed` after a grace
period, so that a GET which already looked up the object can still open the file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from stackbox.sql import SQLITE, Connection, Database, dialect, open_database, transaction
from stackbox.storage.codec import (
    decode_attrs,
    decode_extents,
    encode_extents,
    encode_object_attrs,
    row_to_object,
)
from stackbox.storage.commits import GroupCommitter
from stackbox.storage.lifecycle import LifecycleVersion, Locked
from stackbox.storage.listing import KeyRange
from stackbox.storage.locks import LOCK_COLUMNS, PROTECTED, LockRecords, lock_of
from stackbox.storage.manifests import Location, SegmentVersion
from stackbox.storage.records import ContainerRef, NewObject
from stackbox.storage.schema import upgrade
from stackbox.storage.space import disk_full_refused, private_database
from stackbox.storage.types import (
    NO_LOCK,
    NULL_VERSION,
    AccountInfo,
    ContainerInfo,
    ContainerNotEmpty,
    DeleteMarkerVersion,
    Deletion,
    Extent,
    InvalidSegment,
    LockedVersioning,
    MetaCheck,
    NoSuchContainer,
    NoSuchObject,
    NoSuchVersion,
    ObjectAttrs,
    ObjectEntry,
    ObjectInfo,
    Preconditions,
    VersionEntry,
    Versioning,
)
from stackbox.storage.upload_records import UploadRecords
from stackbox.storage.versions import Position, VersionRow, new_version

OBJECT_COLUMNS = ("key, size, etag, content_type, last_modified, delete_at, manifest_type, attrs, extents, "
                  "manifest, inline")
LISTING_COLUMNS = "key, size, etag, content_type, last_modified, manifest_type"
CONTAINER_COLUMNS = "name, created, meta, object_count, bytes_used, last_modified, versioning"
LIVE = "(delete_at IS NULL OR delete_at > ?)"
#: Keys per `IN (...)` list, well under SQLite's limit on bound parameters.
_KEYS_PER_QUERY = 500
#: What a version counts in its container's bytes used (`NewObject.bytes_counted`).
def _bytes_counted(table: str = "") -> str:
    return (f"CASE WHEN {table}manifest_type = 'slo' AND {table}manifest IS NOT NULL "
            f"THEN length({table}manifest) ELSE {table}size END")


BYTES_COUNTED = _bytes_counted()
#: What version bookkeeping reads of a row (`_Row`), without the table's name and with it.
_ROW_NAMES = ("id", "container_id", "key", "version", "is_null", "latest", "marker", "size", "etag",
              "extents", "delete_at", "last_modified")
ROW_COLUMNS = ", ".join((*_ROW_NAMES, BYTES_COUNTED))
_OBJECT_ROW_COLUMNS = ", ".join((*(f"o.{name}" for name in _ROW_NAMES), _bytes_counted("o.")))
#: A version read in full, joined with its container (`_find`).
READ_COLUMNS = ", ".join(f"o.{name.strip()}" for name in OBJECT_COLUMNS.split(",")) + \
    ", o.is_null, o.version, o.marker, c.versioning, " + \
    ", ".join(f"o.{name}" for name in LOCK_COLUMNS.split(", "))


#: A container by name and the current version of a key in it (`_current_and_latest`).
_CURRENT_AND_LATEST = (
    f"SELECT c.id, c.versioning, {_OBJECT_ROW_COLUMNS} FROM container c "
    "LEFT JOIN object o ON o.container_id = c.id AND o.key = ? AND o.latest = 1 "
    "WHERE c.account = ? AND c.name = ?")


class _Row(NamedTuple):
    id: int
    container_id: int
    key: str
    version: str
    is_null: int
    latest: int
    marker: int
    size: int
    etag: str
    extents: bytes | None
    delete_at: int | None
    last_modified: float
    bytes_counted: int


class _ThreadConnection:
    """`catalog.conn` on PostgreSQL: the calling thread's connection (the engine's calls may run in a
    thread pool). A non-data descriptor: a SQLite catalog sets `conn` on the instance, which then
    shadows this, so the embedded hot path reads a plain attribute."""

    def __get__(self, catalog: Catalog | None, owner: type | None = None) -> Any:
        if catalog is None:  # looked up on the class
            return self
        return catalog.db.connection()


class Catalog(UploadRecords, LockRecords):
    conn: Connection = _ThreadConnection()  # type: ignore[assignment]
    #: Runs inside every write of what the engine's metadata caches hold (`meta_write`), just before
    #: it commits: a cluster node's notification to the others (`cluster.ClusterCounter.announce`).
    announce_meta: Callable[[Connection], object] | None = None

    def __init__(self, target: Path | str, *, durable: bool = True, pool_size: int | None = None) -> None:
        """`target`: the SQLite database file, or a PostgreSQL URL (`pool_size`: its connections at most)."""
        self.db: Database = open_database(target, synchronous="FULL" if durable else "NORMAL",
                                          pool_size=pool_size)
        if self.db.dialect == SQLITE:
            self.conn = self.db.connection()
        #: Object commits go through it (its own connection): one transaction per batch of writes.
        self.batches = GroupCommitter(self.db)

    @classmethod
    def create_schema(cls, target: Path | str) -> None:
        """Create the schema, or upgrade a store written by an earlier release (`schema.upgrade`)."""
        if isinstance(target, Path):
            # Small objects, TempURL keys and ACLs live here: owner only, whatever the umask.
            private_database(target)
        db = open_database(target, pool_size=1)
        conn = db.connect()
        try:
            upgrade(conn, str(target.parent) if isinstance(target, Path) else db.location)
        finally:
            conn.close()
            db.close()

    def close(self) -> None:
        self.batches.close()
        self.db.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with disk_full_refused(), transaction(self.conn) as conn:
            yield conn

    @contextmanager
    def meta_write(self) -> Iterator[Connection]:
        """A write of account or container metadata (what the metadata caches hold)."""
        with self.write() as conn:
            yield conn
            if self.announce_meta is not None:
                self.announce_meta(conn)

    # ------------------------------------------------------------------------------ accounts

    def account(self, account: str) -> AccountInfo:
        row = self.conn.execute("SELECT created, meta FROM account WHERE name = ?", (account,)).fetchone()
        totals = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(object_count), 0), COALESCE(SUM(bytes_used), 0) "
            "FROM container WHERE account = ?", (account,)).fetchone()
        created, meta = (row[0], orjson.loads(row[1])) if row else (0.0, {})
        return AccountInfo(account, created, meta, totals[0], totals[1], totals[2])

    def account_meta(self, account: str) -> dict[str, str]:
        row = self.conn.execute("SELECT meta FROM account WHERE name = ?", (account,)).fetchone()
        return orjson.loads(row[0]) if row else {}

    def update_account_meta(self, account: str, updates: Mapping[str, str], remove: Iterable[str],
                            check: MetaCheck | None = None) -> None:
        with self.meta_write() as conn:
            self._ensure_account(conn, account)
            row = conn.execute("SELECT meta FROM account WHERE name = ?", (account,)).fetchone()
            meta = _merged(orjson.loads(row[0]), updates, remove)
            if check is not None:
                check(meta)
            conn.execute("UPDATE account SET meta = ? WHERE name = ?", (orjson.dumps(meta).decode(), account))

    def _ensure_account(self, conn: Connection, account: str) -> None:
        conn.execute("INSERT OR IGNORE INTO account (name, created) VALUES (?, ?)", (account, time.time()))

    # ------------------------------------------------------------------------------ containers

    def create_container(self, account: str, name: str, meta: Mapping[str, str]) -> bool:
        with self.meta_write() as conn:
            self._ensure_account(conn, account)
            now = time.time()
            cursor = conn.execute(
                "INSERT OR IGNORE INTO container (account, name, created, meta, last_modified) "
                "VALUES (?, ?, ?, ?, ?)", (account, name, now, orjson.dumps(dict(meta)).decode(), now))
            return cursor.rowcount == 1

    def container(self, account: str, name: str) -> ContainerInfo | None:
        row = self.conn.execute(
            f"SELECT {CONTAINER_COLUMNS} FROM container WHERE account = ? AND name = ?",
            (account, name)).fetchone()
        return None if row is None else _container_info(account, row)

    def container_accounts(self, name: str) -> list[str]:
        rows = self.conn.execute("SELECT account FROM container WHERE name = ?", (name,)).fetchall()
        return [row[0] for row in rows]

    def container_ref(self, account: str, name: str) -> ContainerRef:
        row = self.conn.execute("SELECT id, versioning FROM container WHERE account = ? AND name = ?",
                                (account, name)).fetchone()
        if row is None:
            raise NoSuchContainer(f"{account}/{name}")
        return ContainerRef(row[0], account, name, row[1])

    def set_versioning(self, account: str, name: str, state: Versioning) -> None:
        if state == "unversioned":
            raise ValueError("versioning can be suspended, never turned off")
        with self.write() as conn:
            if state == "suspended" and self.lock_configuration(account, name) is not None:
                raise LockedVersioning("the versioning of a container with Object Lock cannot be suspended")
            if conn.execute("UPDATE container SET versioning = ? WHERE account = ? AND name = ?",
                            (state, account, name)).rowcount == 0:
                raise NoSuchContainer(f"{account}/{name}")

    def update_container_meta(self, account: str, name: str, updates: Mapping[str, str],
                              remove: Iterable[str], check: MetaCheck | None = None) -> ContainerInfo:
        with self.meta_write() as conn:
            ref = self.container_ref(account, name)
            row = conn.execute("SELECT meta FROM container WHERE id = ?", (ref.id,)).fetchone()
            meta = _merged(orjson.loads(row[0]), updates, remove)
            if check is not None:
                check(meta)
            conn.execute("UPDATE container SET meta = ?, last_modified = ? WHERE id = ?",
                         (orjson.dumps(meta).decode(), time.time(), ref.id))
        info = self.container(account, name)
        assert info is not None
        return info

    def delete_container(self, account: str, name: str, now: float) -> None:
        """Deletes a container that holds no live version and no delete marker (expired versions and
        pending uploads go with it)."""
        with self.meta_write() as conn:
            ref = self.container_ref(account, name)
            held = conn.execute(f"SELECT 1 FROM object WHERE container_id = ? AND (marker = 1 OR {LIVE} "
                                f"OR {PROTECTED}) LIMIT 1", (ref.id, now, now)).fetchone()
            if held is not None:
                raise ContainerNotEmpty(f"{account}/{name}")
            for row in conn.execute(f"SELECT {ROW_COLUMNS} FROM object WHERE container_id = ?",
                                    (ref.id,)).fetchall():
                self._drop_row(conn, _Row(*row), now)
            self._drop_uploads(conn, ref.id, now)
            conn.execute("DELETE FROM container WHERE id = ?", (ref.id,))

    def containers(self, account: str, key_range: KeyRange, reverse: bool,
                   count: int) -> Iterator[ContainerInfo]:
        """Lazily, so that a listing which seeks elsewhere stops reading."""
        where, params = _range_sql("name", key_range)
        rows = self.conn.execute(
            f"SELECT {CONTAINER_COLUMNS} FROM container WHERE account = ? {where} "
            f"ORDER BY name {'DESC' if reverse else 'ASC'} LIMIT ?", (account, *params, count))
        return (_container_info(account, row) for row in rows)

    # ------------------------------------------------------------------------------ objects

    def find_object(self, account: str, container: str, key: str, now: float) -> ObjectInfo | None:
        """The live current version, else None (also when the current version is a delete marker)."""
        found = _find(self.conn, account, container, key, None, now)
        return None if found is None or found.delete_marker else found

    def find_version(self, account: str, container: str, key: str, version_id: str | None,
                     now: float) -> ObjectInfo | None:
        """The live current version (version_id None) or the named one, delete markers included."""
        return _find(self.conn, account, container, key, version_id, now)

    def objects(self, container_id: int, key_range: KeyRange, reverse: bool, count: int,
                now: float) -> Iterator[ObjectEntry]:
        """Current objects, lazily, so that a listing which seeks elsewhere stops reading."""
        where, params = _range_sql("key", key_range)
        rows = self.conn.execute(
            f"SELECT {LISTING_COLUMNS} FROM object INDEXED BY object_listed "
            f"WHERE container_id = ? {where} AND latest = 1 AND marker = 0 AND {LIVE} "
            f"ORDER BY key {'DESC' if reverse else 'ASC'} LIMIT ?",
            (container_id, *params, now, count))
        return (ObjectEntry(*row) for row in rows)

    def current_meta(self, container_id: int, keys: Sequence[str], now: float) -> dict[str, dict[str, str]]:
        """The metadata of the live current objects among `keys`, in one query per 500 keys."""
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start:start + _KEYS_PER_QUERY]
            rows = self.conn.execute(
                f"SELECT key, attrs FROM object INDEXED BY object_listed WHERE container_id = ? "
                f"AND key IN ({', '.join('?' * len(chunk))}) AND latest = 1 AND marker = 0 AND {LIVE}",
                (container_id, *chunk, now))
            found.update((key, decode_attrs(attrs).get("m", {})) for key, attrs in rows)
        return found

    def versions(self, container_id: int, position: Position, upper: str | None, count: int,
                 now: float) -> Iterator[VersionRow]:
        """Versions and delete markers in (key, newest first) order from `position`, lazily."""
        clauses, params = _position_sql(position)
        if upper is not None:
            clauses += " AND key < ?"
            params.append(upper)
        rows = self.conn.execute(
            f"SELECT key, version, is_null, latest, marker, size, etag, content_type, last_modified, "
            f"manifest_type FROM object INDEXED BY object_version WHERE container_id = ? {clauses} "
            f"AND {LIVE} ORDER BY key, version LIMIT ?", (container_id, *params, now, count))
        return map(_version_row, rows)

    def versions_desc(self, container_id: int, position: Position | None, lower: str, count: int,
                      now: float) -> Iterator[VersionRow]:
        """Versions and delete markers in descending (key, version) order (oldest first within a
        key) from below `position` (None: the top) down to `lower`, lazily."""
        clauses, params = ("", []) if position is None else _position_desc_sql(position)
        rows = self.conn.execute(
            f"SELECT key, version, is_null, latest, marker, size, etag, content_type, last_modified, "
            f"manifest_type FROM object INDEXED BY object_version WHERE container_id = ? AND key >= ? "
            f"{clauses} AND {LIVE} ORDER BY key DESC, version DESC LIMIT ?",
            (container_id, lower, *params, now, count))
        return map(_version_row, rows)

    def internal_version(self, container_id: int, key: str, version_id: str) -> str | None:
        """The internal id of a key's version named by its public id (None: no such version)."""
        clause, params = _version_clause(version_id)
        row = self.conn.execute(f"SELECT version FROM object WHERE container_id = ? AND key = ? AND {clause}",
                                (container_id, key, *params)).fetchone()
        return None if row is None else str(row[0])

    async def commit_object(self, ref: ContainerRef, key: str, new: NewObject, preconditions: Preconditions,
                            now: float, undo: Callable[[], None] | None = None) -> ObjectInfo:
        """Atomically check preconditions, add the new version as the container's versioning state
        says and take the blob references, in the next group commit; `undo` runs if it is not
        applied (see `GroupCommitter.run`)."""
        # An account quota sums the account's containers: such a write excludes all others.
        scope = None if new.quota is not None and new.quota.account is not None else _scope(ref)
        return await self.batches.run(partial(self.store_object, ref=ref, key=key, new=new,
                                              preconditions=preconditions, now=now), undo, scope=scope,
                                      read=_current_and_latest_read(ref.account, ref.name, key))

    def store_object(self, conn: Connection, ref: ContainerRef, key: str, new: NewObject,
                     preconditions: Preconditions, now: float) -> ObjectInfo:
        """The body of `commit_object`, inside a transaction the caller holds."""
        ref, latest = _current_and_latest(conn, ref, key)
        if new.quota is not None:
            new.quota.check(conn, ref.id, ref.account, new.bytes_counted)
        preconditions.check(_live_state(latest, now))
        lock = self._new_version_lock(conn, ref, new.attrs.lock, now)
        if new.new_blob is not None:
            conn.execute("INSERT INTO blob (id, size, refs) VALUES (?, ?, 0)", new.new_blob)
        # References are taken before the previous version's are dropped: they may share blobs.
        self._add_refs(conn, new.extents)
        version, is_null, reused, freed = self._make_way(conn, ref, key, latest, now)
        row = (key, new.size, new.etag, new.attrs.content_type, now, new.attrs.delete_at,
               new.attrs.manifest_type, encode_object_attrs(new.attrs, new.checksum, new.parts),
               encode_extents(new.extents) if new.inline is None else None, new.attrs.manifest, new.inline)
        _write_current(conn, ref.id, reused, (version, is_null, 0, *row))
        if lock is not None:
            self._store_lock(conn, ref.id, key, lock)
        self._count(conn, ref.id, 1 - _counted(latest), new.bytes_counted - freed, now)
        return row_to_object(ref.account, ref.name, row, _public_id(ref.versioning, is_null, version),
                             lock=lock or NO_LOCK)

    def _make_way(self, conn: Connection, ref: ContainerRef, key: str, latest: _Row | None,
                  now: float) -> tuple[str, bool, int | None, int]:
        """Make room for a new current version of `key` (object or delete marker): demote the
        current one; outside "enabled", also drop the null version, which the new one replaces.
        Returns the new version's internal id, whether it is the null version, the row to
        overwrite in place (the current null version: the common unversioned overwrite costs one
        row update, not a delete and an insert in every index), and the bytes of the version
        replaced (the caller takes them off the container's total)."""
        version = new_version(None if latest is None else latest.version)
        if ref.versioning == "enabled":
            if latest is not None:
                conn.execute("UPDATE object SET latest = 0 WHERE id = ?", (latest.id,))
            return version, False, None, 0
        if latest is not None and latest.is_null:
            if latest.extents is not None:
                self._drop_refs(conn, decode_extents(latest.extents), now)
            return version, True, latest.id, latest.bytes_counted
        null = _null_version(conn, ref.id, key)
        if null is not None:
            self._drop_row(conn, null, now)
        if latest is not None:
            conn.execute("UPDATE object SET latest = 0 WHERE id = ?", (latest.id,))
        return version, True, None, 0 if null is None else null.bytes_counted

    def _locked_object(self, conn: Connection, account: str, container: str, key: str,
                      now: float, version_id: str | None = None) -> ObjectInfo:
        """An object read inside a write transaction (copy and manifest sources, updates)."""
        found = _find(conn, account, container, key, version_id, now)
        if found is None:
            self.container_ref(account, container)
        return visible(found, f"{account}/{container}/{key}", version_id)

    def copy_version(self, source: Location, source_version: str | None, dst: ContainerRef, dst_key: str,
                     build: Callable[[ObjectInfo], NewObject], preconditions: Preconditions,
                     now: float) -> ObjectInfo:
        """In one transaction: the object `build` makes of the source's current (or named) version
        becomes a new version of `dst_key` (errors of a missing source as in `visible`)."""
        with self.write() as conn:
            src = self._locked_object(conn, *source, now, source_version)
            return self.store_object(conn, dst, dst_key, build(src), preconditions, now)

    def store_manifest(self, ref: ContainerRef, key: str, new: NewObject, segments: Sequence[SegmentVersion],
                       preconditions: Preconditions, now: float) -> ObjectInfo:
        """Commits a static large object whose segments were read before: InvalidSegment if one of
        them changed since."""
        with self.write() as conn:
            for segment in segments:
                if _segment_state(conn, segment.location, now) != (segment.etag, segment.last_modified):
                    raise InvalidSegment(segment.index, "changed while the manifest was written")
            return self.store_object(conn, ref, key, new, preconditions, now)

    def update_object(self, account: str, container: str, key: str, version_id: str | None,
                      changes: Mapping[str, Any], now: float) -> ObjectInfo:
        """Rewrites the attributes in `changes` (names of `ObjectAttrs` fields) of the current (or
        the named) version without touching data; `touch=True` among them makes `now` its last
        modification time (Swift's POST rewrites the timestamp)."""
        changes = dict(changes)
        touched = now if changes.pop("touch", False) else None
        with self.write() as conn:
            ref = self.container_ref(account, container)
            current = self._locked_object(conn, account, container, key, now, version_id)
            attrs = _apply_changes(current, changes)
            encoded = encode_object_attrs(attrs, current.checksum, current.parts)
            clause, params = _version_clause(version_id)
            conn.execute(
                f"UPDATE object SET content_type = ?, delete_at = ?, attrs = ?, "
                f"last_modified = COALESCE(?, last_modified) WHERE container_id = ? AND key = ? AND {clause}",
                (attrs.content_type, attrs.delete_at, encoded, touched, ref.id, key, *params))
            return self._locked_object(conn, account, container, key, now, version_id)

    def delete_object(self, account: str, container: str, key: str, version_id: str | None,
                      preconditions: Preconditions, now: float) -> Deletion:
        with self.write() as conn:
            return self._delete_in(conn, account, container, key, version_id, preconditions, now)

    async def delete_object_grouped(self, account: str, container: str, key: str, version_id: str | None,
                                    preconditions: Preconditions, now: float, *,
                                    bypass_governance: bool = False) -> Deletion:
        """`delete_object` in the next group commit."""
        read = None if version_id is not None else _current_and_latest_read(account, container, key)
        return await self.batches.run(partial(self._delete_in, account=account, container=container, key=key,
                                              version_id=version_id, preconditions=preconditions, now=now,
                                              bypass_governance=bypass_governance),
                                      scope=(account, container), read=read)

    def _delete_in(self, conn: Connection, account: str, container: str, key: str,
                  version_id: str | None, preconditions: Preconditions, now: float, *,
                  bypass_governance: bool = False) -> Deletion:
        """The body of `delete_object`, inside a transaction the caller holds. Without `version_id`:
        an unversioned container loses the object; otherwise a delete marker becomes current (in a
        suspended container, as the null version). With it: that version is deleted for good."""
        if version_id is not None:
            ref = _current_ref(conn, ContainerRef(0, account, container))
            return self._delete_version(conn, ref, key, version_id, now, bypass_governance)
        ref, latest = _current_and_latest(conn, ContainerRef(0, account, container), key)
        etag = _live_etag(latest, now)
        preconditions.check(_live_state(latest, now))
        if ref.versioning == "unversioned":
            if latest is not None:  # the key's only version: every one is the null version here
                self._remove_row(conn, latest, now, others=False)
            return Deletion(etag is not None, None, False)
        version, is_null, reused, freed = self._make_way(conn, ref, key, latest, now)
        marker = (key, 0, "", "", now, None, None, b"{}", None, None, None)
        _write_current(conn, ref.id, reused, (version, is_null, 1, *marker))
        self._count(conn, ref.id, -_counted(latest), -freed, now)
        return Deletion(etag is not None, NULL_VERSION if is_null else version, True)

    def _delete_version(self, conn: Connection, ref: ContainerRef, key: str, version_id: str,
                        now: float, bypass_governance: bool) -> Deletion:
        clause, params = _version_clause(version_id)
        found = conn.execute(
            f"SELECT {ROW_COLUMNS} FROM object WHERE container_id = ? AND key = ? AND {clause}",
            (ref.id, key, *params)).fetchone()
        if found is None:
            return Deletion(False, version_id, False)
        row = _Row(*found)
        self._check_deletable(conn, row.id, now, bypass_governance=bypass_governance)
        self._remove_row(conn, row, now)
        return Deletion(True, version_id, bool(row.marker))

    def expired(self, now: float, limit: int) -> list[int]:
        """Versions whose delete_at has passed and no Object Lock protects (their row ids, for `reap`)."""
        return [row[0] for row in self.conn.execute(
            f"SELECT id FROM object WHERE delete_at <= ? AND NOT {PROTECTED} ORDER BY delete_at LIMIT ?",
            (now, now, limit)).fetchall()]

    def reap(self, row_id: int, now: float) -> None:
        """Deletes an expired version for good (X-Delete-At applies to the version it was set on)."""
        with self.write() as conn:
            found = conn.execute(f"SELECT {ROW_COLUMNS} FROM object WHERE id = ? AND NOT {PROTECTED}",
                                 (row_id, now)).fetchone()
            row = None if found is None else _Row(*found)
            if row is not None and row.delete_at is not None and row.delete_at <= now:
                self._remove_row(conn, row, now)

    def _remove_row(self, conn: Connection, row: _Row, now: float, *, others: bool = True) -> None:
        """Deletes a version for good; when it was current, the next newest one becomes current
        (`others=False`: the caller knows there is none, which saves a query)."""
        self._drop_row(conn, row, now)
        promoted = self._promote_newest(conn, row) if row.latest and others else 0
        self._count(conn, row.container_id, promoted - _counted(row), -row.bytes_counted, now)

    def _promote_newest(self, conn: Connection, removed: _Row) -> int:
        """Makes the newest remaining version of the removed one's key current; returns what it
        adds to the object count."""
        promoted = conn.execute(f"SELECT {ROW_COLUMNS} FROM object INDEXED BY object_version "
                                "WHERE container_id = ? AND key = ? ORDER BY version LIMIT 1",
                                (removed.container_id, removed.key)).fetchone()
        if promoted is None:
            return 0
        conn.execute("UPDATE object SET latest = 1 WHERE id = ?", (promoted[0],))
        return _counted(_Row(*promoted)._replace(latest=1))

    def _drop_row(self, conn: Connection, row: _Row, now: float) -> None:
        conn.execute("DELETE FROM object WHERE id = ?", (row.id,))
        if row.extents is not None:
            self._drop_refs(conn, decode_extents(row.extents), now)

    def _count(self, conn: Connection, container_id: int, objects: int, size: int,
               now: float) -> None:
        conn.execute("UPDATE container SET object_count = object_count + ?, bytes_used = bytes_used + ?, "
                     "last_modified = ? WHERE id = ?", (objects, size, now, container_id))

    # ------------------------------------------------------------------------------ blob references

    def _add_refs(self, conn: Connection, extents: Iterable[Extent]) -> None:
        counts = Counter(extent.blob_id for extent in extents if extent.blob_id is not None)
        for blob_id, count in counts.items():
            conn.execute("UPDATE blob SET refs = refs + ?, freed_at = NULL WHERE id = ?", (count, blob_id))

    def _drop_refs(self, conn: Connection, extents: Iterable[Extent], now: float) -> None:
        counts = Counter(extent.blob_id for extent in extents if extent.blob_id is not None)
        for blob_id, count in counts.items():
            conn.execute("UPDATE blob SET refs = refs - ?, freed_at = CASE WHEN refs - ? <= 0 THEN ? END "
                         "WHERE id = ?", (count, count, now, blob_id))

    def freed_blobs(self, freed_before: float) -> list[str]:
        """Unreferenced blobs freed before the given time (the caller deletes their files)."""
        return [row[0] for row in self.conn.execute(
            "SELECT id FROM blob WHERE refs <= 0 AND freed_at < ?", (freed_before,)).fetchall()]

    def forget_blobs(self, blob_ids: Iterable[str]) -> None:
        with self.write() as conn:
            conn.executemany("DELETE FROM blob WHERE id = ? AND refs <= 0", ((blob,) for blob in blob_ids))

    def known_blobs(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT id FROM blob")}

    # ------------------------------------------------------------------------------ lifecycle

    def containers_with_meta(self, name: str, after_id: int,
                             window: int) -> tuple[list[tuple[ContainerRef, str]], int | None]:
        """Containers with ids in (after_id, after_id + window] whose metadata holds `name`, with
        its value; and where the next window starts (None: no container lies beyond)."""
        upper = after_id + window
        conn = self.conn
        if dialect(conn) == SQLITE:
            path = '$."' + name.replace('"', '') + '"'
            value = "json_extract(meta, ?)"
        else:
            path, value = name, "(meta::jsonb ->> ?::text)"
        rows = conn.execute(
            f"SELECT id, account, name, versioning, {value} FROM container "
            f"WHERE id > ? AND id <= ? AND {value} IS NOT NULL ORDER BY id",
            (path, after_id, upper, path)).fetchall()
        beyond = self.conn.execute("SELECT 1 FROM container WHERE id > ? LIMIT 1", (upper,)).fetchone()
        found = [(ContainerRef(row[0], row[1], row[2], row[3]), str(row[4])) for row in rows]
        return found, None if beyond is None else upper

    def lifecycle_versions(self, container_id: int, position: Position | None, count: int,
                           now: float) -> list[LifecycleVersion]:
        """Up to `count` versions and delete markers after `position`, in (key, newest first) order."""
        clauses, params = _position_sql(position) if position is not None else ("", [])
        rows = self.conn.execute(
            "SELECT key, version, is_null, latest, marker, size, last_modified, attrs FROM object "
            f"INDEXED BY object_version WHERE container_id = ? {clauses} AND {LIVE} "
            "ORDER BY key, version LIMIT ?", (container_id, *params, now, count)).fetchall()
        return [LifecycleVersion(row[0], row[1], bool(row[2]), bool(row[3]), bool(row[4]), row[5], row[6],
                                 decode_attrs(row[7]).get("t", {})) for row in rows]

    async def expire_current(self, ref: ContainerRef, key: str, version: str, locked: Locked,
                             now: float) -> bool:
        """Expire the current version of `key` if it is still `version` (an object): a delete marker
        in a versioned container, a delete otherwise, unless `locked` says the version it deletes
        for good is protected. In the next group commit; whether it was expired."""
        return bool(await self.batches.run(partial(self._expire_current, ref=ref, key=key, version=version,
                                                   locked=locked, now=now), scope=_scope(ref)))

    def _expire_current(self, conn: Connection, ref: ContainerRef, key: str, version: str,
                        locked: Locked, now: float) -> bool:
        ref, latest = _current_and_latest(conn, ref, key)
        if latest is None or latest.version != version or latest.marker:
            return False
        if ref.versioning != "enabled" and latest.is_null:
            current = _find(conn, ref.account, ref.name, key, None, now)
            if current is None or locked(current):
                return False
        self._delete_in(conn, ref.account, ref.name, key, None, Preconditions(), now)
        return True

    async def expire_noncurrent(self, ref: ContainerRef, key: str, version: str, keep_newer: int,
                                locked: Locked, now: float) -> bool:
        """Delete for good a version of `key` that is still noncurrent and has at least `keep_newer`
        newer noncurrent versions (objects), unless `locked`; in the next group commit."""
        return bool(await self.batches.run(partial(self._expire_noncurrent, ref=ref, key=key, version=version,
                                                   keep_newer=keep_newer, locked=locked, now=now),
                                           scope=_scope(ref)))

    def _expire_noncurrent(self, conn: Connection, ref: ContainerRef, key: str, version: str,
                           keep_newer: int, locked: Locked, now: float) -> bool:
        ref = _current_ref(conn, ref)
        found = conn.execute(f"SELECT {ROW_COLUMNS} FROM object WHERE container_id = ? AND key = ? "
                             "AND version = ?", (ref.id, key, version)).fetchone()
        row = None if found is None else _Row(*found)
        if row is None or row.latest:
            return False
        if keep_newer and _newer_noncurrent(conn, ref.id, key, version, keep_newer) < keep_newer:
            return False
        if not row.marker:
            info = _find(conn, ref.account, ref.name, key, NULL_VERSION if row.is_null else version, now)
            if info is None or locked(info):
                return False
        self._remove_row(conn, row, now)
        return True

    async def remove_expired_marker(self, ref: ContainerRef, key: str, version: str, now: float) -> bool:
        """Delete the current delete marker `version` of `key` if it is the key's only version."""
        return bool(await self.batches.run(partial(self._remove_expired_marker, ref=ref, key=key,
                                                   version=version, now=now), scope=_scope(ref)))

    def _remove_expired_marker(self, conn: Connection, ref: ContainerRef, key: str, version: str,
                               now: float) -> bool:
        ref, latest = _current_and_latest(conn, ref, key)
        if latest is None or latest.version != version or not latest.marker:
            return False
        if conn.execute("SELECT 1 FROM object WHERE container_id = ? AND key = ? AND version != ? LIMIT 1",
                        (ref.id, key, version)).fetchone() is not None:
            return False
        self._remove_row(conn, latest, now)
        return True

    async def abort_upload_grouped(self, upload_id: str, now: float) -> None:
        """`abort_upload` in the next group commit."""
        await self.batches.run(partial(self._drop_upload, upload_id=upload_id, now=now))


def _scope(ref: ContainerRef) -> tuple[str, str]:
    """The scope of a write that reads and changes only the container's rows (and the rows of blobs
    its versions reference, whose counts are updated in place)."""
    return ref.account, ref.name


def _newer_noncurrent(conn: Connection, container_id: int, key: str, version: str, most: int) -> int:
    """How many noncurrent objects (not markers) of `key` are newer than `version`, counting to `most`."""
    return int(conn.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM object WHERE container_id = ? AND key = ? AND version < ? "
        "AND latest = 0 AND marker = 0 LIMIT ?) AS newer", (container_id, key, version, most)).fetchone()[0])


def _current_ref(conn: Connection, ref: ContainerRef) -> ContainerRef:
    """The container named by `ref` as it is now, looked up by name: `ref` may come from a cache,
    and the container may have been deleted or recreated (with another id), or its versioning
    changed, since."""
    row = conn.execute("SELECT id, versioning FROM container WHERE account = ? AND name = ?",
                       (ref.account, ref.name)).fetchone()
    if row is None:
        raise NoSuchContainer(f"{ref.account}/{ref.name}")
    return ContainerRef(row[0], ref.account, ref.name, row[1])


def _current_and_latest(conn: Connection, ref: ContainerRef, key: str) -> tuple[ContainerRef, _Row | None]:
    """`_current_ref` and `_latest` of `key` in it, in one query (one round trip on PostgreSQL)."""
    row = conn.execute(*_current_and_latest_read(ref.account, ref.name, key)).fetchone()
    if row is None:
        raise NoSuchContainer(f"{ref.account}/{ref.name}")
    current = ContainerRef(row[0], ref.account, ref.name, row[1])
    return current, None if row[2] is None else _Row(*row[2:])


def _current_and_latest_read(account: str, container: str, key: str) -> tuple[str, tuple[str, str, str]]:
    """The query of `_current_and_latest`: what a group-committed write of the key reads first."""
    return _CURRENT_AND_LATEST, (key, account, container)


def _find(conn: Connection, account: str, container: str, key: str, version_id: str | None,
          now: float) -> ObjectInfo | None:
    clause, params = _version_clause(version_id, "o.")
    row = conn.execute(
        f"SELECT {READ_COLUMNS} FROM container c JOIN object o ON o.container_id = c.id "
        f"WHERE c.account = ? AND c.name = ? AND o.key = ? AND {clause} "
        "AND (o.delete_at IS NULL OR o.delete_at > ?)", (account, container, key, *params, now)).fetchone()
    if row is None:
        return None
    is_null, version, marker, versioning = row[-7:-3]
    return row_to_object(account, container, row[:-7], _public_id(versioning, is_null, version),
                         delete_marker=bool(marker), lock=lock_of(*row[-3:]))


_WRITTEN_COLUMNS = f"version, is_null, marker, {OBJECT_COLUMNS}"
_INSERT_CURRENT = (f"INSERT INTO object (container_id, latest, {_WRITTEN_COLUMNS}) "
                   f"VALUES (?, 1{', ?' * len(_WRITTEN_COLUMNS.split(','))})")
_UPDATE_CURRENT = "UPDATE object SET {} WHERE id = ?".format(
    ", ".join(f"{name.strip()} = ?" for name in _WRITTEN_COLUMNS.split(",")))


def _write_current(conn: Connection, container_id: int, reused: int | None,
                   values: tuple[Any, ...]) -> None:
    """Store the new current version: (version, is_null, marker, *OBJECT_COLUMNS values)."""
    if reused is None:
        conn.execute(_INSERT_CURRENT, (container_id, *values))
    else:
        conn.execute(_UPDATE_CURRENT, (*values, reused))


def _segment_state(conn: Connection, location: Location, now: float) -> tuple[str, float] | None:
    """(etag, last_modified) of a live current object, without decoding its extents."""
    account, container, key = location
    row = conn.execute(
        f"SELECT etag, last_modified FROM object WHERE key = ? AND latest = 1 AND marker = 0 AND {LIVE} "
        "AND container_id = (SELECT id FROM container WHERE account = ? AND name = ?)",
        (key, now, account, container)).fetchone()
    return None if row is None else (str(row[0]), float(row[1]))


def visible(found: ObjectInfo | None, name: str, version_id: str | None) -> ObjectInfo:
    """`found` if it is an object, else the error a read of it raises."""
    if found is None:
        raise NoSuchVersion(name) if version_id is not None else NoSuchObject(name)
    if found.delete_marker:
        if version_id is not None:
            raise DeleteMarkerVersion(version_id)
        raise NoSuchObject(name, delete_marker=True, version_id=found.version_id)
    return found


def _latest(conn: Connection, container_id: int, key: str) -> _Row | None:
    row = conn.execute(f"SELECT {ROW_COLUMNS} FROM object WHERE container_id = ? AND key = ? AND latest = 1",
                       (container_id, key)).fetchone()
    return None if row is None else _Row(*row)


def _null_version(conn: Connection, container_id: int, key: str) -> _Row | None:
    row = conn.execute(f"SELECT {ROW_COLUMNS} FROM object WHERE container_id = ? AND key = ? AND is_null = 1",
                       (container_id, key)).fetchone()
    return None if row is None else _Row(*row)


def _live_etag(row: _Row | None, now: float) -> str | None:
    """The etag of a current version that is a live object (what preconditions compare)."""
    if row is None or row.marker or (row.delete_at is not None and row.delete_at <= now):
        return None
    return row.etag


def _live_state(row: _Row | None, now: float) -> tuple[str, int, float] | None:
    """(etag, size, last modified) of a current version that is a live object (what preconditions test)."""
    if _live_etag(row, now) is None:
        return None
    assert row is not None
    return row.etag, row.size, row.last_modified


def _counted(row: _Row | None) -> int:
    """What a version adds to its container's object count: 1 if it is a current object. Its bytes
    count whatever its state (as Swift counts every version's): writes add them, `_make_way` and
    `_remove_row` take them off."""
    return 1 if row is not None and row.latest and not row.marker else 0


def _public_id(versioning: Versioning, is_null: int, version: str) -> str | None:
    if versioning == "unversioned":
        return None
    return NULL_VERSION if is_null else version


def _version_clause(version_id: str | None, table: str = "") -> tuple[str, tuple[str, ...]]:
    """SQL selecting a key's current version (None), its null version, or the one with that id."""
    if version_id is None:
        return f"{table}latest = 1", ()
    if version_id == NULL_VERSION:
        return f"{table}is_null = 1", ()
    return f"{table}version = ?", (version_id,)


def _position_sql(position: Position) -> tuple[str, list[str]]:
    if position.version is None:
        return f"AND key {'>=' if position.inclusive else '>'} ?", [position.key]
    return "AND (key, version) > (?, ?)", [position.key, position.version]


def _version_row(row: tuple[Any, ...]) -> VersionRow:
    entry = VersionEntry(row[0], NULL_VERSION if row[2] else row[1], bool(row[3]), bool(row[4]), *row[5:])
    return VersionRow(entry, row[1])


def _position_desc_sql(position: Position) -> tuple[str, list[str]]:
    if position.version is None:
        return f"AND key {'<=' if position.inclusive else '<'} ?", [position.key]
    return "AND (key, version) < (?, ?)", [position.key, position.version]


UPDATABLE = frozenset({"content_type", "meta", "headers", "tags", "acl", "delete_at"})


def _apply_changes(current: ObjectInfo, changes: Mapping[str, Any]) -> ObjectAttrs:
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"cannot update {sorted(unknown)}")
    fields: dict[str, Any] = {
        "content_type": current.content_type, "meta": current.meta, "headers": current.headers,
        "tags": current.tags, "acl": current.acl, "delete_at": current.delete_at,
        "manifest_type": current.manifest_type, "manifest": current.manifest}
    fields.update(changes)
    fields["sealing"] = current.sealing  # the data is untouched, so is how it is encrypted
    return ObjectAttrs(**fields)


def _merged(meta: dict[str, str], updates: Mapping[str, str], remove: Iterable[str]) -> dict[str, str]:
    for name in remove:
        meta.pop(name, None)
    meta.update(updates)
    return meta


def _container_info(account: str, row: Sequence[Any]) -> ContainerInfo:
    return ContainerInfo(account, row[0], row[1], decode_attrs(row[2]), row[3], row[4], row[5], row[6])


def _range_sql(column: str, key_range: KeyRange) -> tuple[str, list[str]]:
    clauses: list[str] = []
    params: list[str] = []
    if key_range.lower is not None:
        clauses.append(f"AND {column} {'>=' if key_range.lower_inclusive else '>'} ?")
        params.append(key_range.lower)
    if key_range.upper is not None:
        clauses.append(f"AND {column} < ?")
        params.append(key_range.upper)
    return " ".join(clauses), params
