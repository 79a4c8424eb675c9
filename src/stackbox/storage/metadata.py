"""The metadata catalog in SQLite: accounts, containers, objects, blob references, uploads, parts.

Every public method is one atomic transaction (or one read). The engine is the only caller, so a
PostgreSQL catalog with the same methods could replace this one. Blob reference counts live here:
`refs` counts the extents (of objects and of upload parts) that point into a blob; a blob whose
count drops to 0 is marked with `freed_at` and its file is deleted by `purge_freed` after a grace
period, so that a GET which already looked up the object can still open the file.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from stackbox.sqlite import connect, transaction
from stackbox.storage.codec import (
    decode_attrs,
    decode_extents,
    encode_extents,
    encode_object_attrs,
    row_to_object,
)
from stackbox.storage.commits import GroupCommitter
from stackbox.storage.listing import KeyRange
from stackbox.storage.space import disk_full_refused, private_database
from stackbox.storage.types import (
    AccountInfo,
    Checksum,
    ContainerInfo,
    ContainerNotEmpty,
    Extent,
    NoSuchContainer,
    NoSuchObject,
    ObjectAttrs,
    ObjectEntry,
    ObjectInfo,
    ObjectPart,
    PreconditionFailed,
    Preconditions,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS account (
    name TEXT PRIMARY KEY, created REAL NOT NULL, meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS container (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}', object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0, last_modified REAL NOT NULL, UNIQUE (account, name));
CREATE INDEX IF NOT EXISTS container_by_name ON container (name);
-- Wide columns last: listings and heads never read the overflow pages of inline data.
CREATE TABLE IF NOT EXISTS object (
    id INTEGER PRIMARY KEY, container_id INTEGER NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, content_type TEXT NOT NULL, last_modified REAL NOT NULL, delete_at INTEGER,
    manifest_type TEXT, attrs BLOB NOT NULL, extents BLOB, manifest BLOB, inline BLOB,
    UNIQUE (container_id, key));
CREATE INDEX IF NOT EXISTS object_delete_at ON object (delete_at) WHERE delete_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS blob (
    id TEXT PRIMARY KEY, size INTEGER NOT NULL, refs INTEGER NOT NULL, freed_at REAL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_freed ON blob (freed_at) WHERE refs = 0;
CREATE TABLE IF NOT EXISTS upload (
    id TEXT PRIMARY KEY, container_id INTEGER NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
    attrs BLOB NOT NULL) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS upload_by_key ON upload (container_id, key, id);
CREATE TABLE IF NOT EXISTS part (
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, blob_id TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, checksum TEXT, last_modified REAL NOT NULL,
    PRIMARY KEY (upload_id, number)) WITHOUT ROWID;
"""

OBJECT_COLUMNS = ("key, size, etag, content_type, last_modified, delete_at, manifest_type, attrs, extents, "
                  "manifest, inline")
LISTING_COLUMNS = "key, size, etag, content_type, last_modified, manifest_type"
CONTAINER_COLUMNS = "name, created, meta, object_count, bytes_used, last_modified"
LIVE = "(delete_at IS NULL OR delete_at > ?)"


@dataclass(frozen=True, slots=True)
class NewObject:
    """An object version ready to commit: attributes plus where its data is."""

    size: int
    etag: str
    attrs: ObjectAttrs
    checksum: Checksum | None = None
    parts: Sequence[ObjectPart] = ()
    extents: Sequence[Extent] = ()
    inline: bytes | None = None
    #: A freshly published blob this version introduces: (blob id, size).
    new_blob: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class ContainerRef:
    id: int
    account: str
    name: str


class Catalog:
    def __init__(self, path: Path, *, durable: bool = True) -> None:
        synchronous = "FULL" if durable else "NORMAL"
        self.conn = connect(path, synchronous=synchronous)
        #: Object commits go through it (its own connection): one transaction per batch of writes.
        self.batches = GroupCommitter(path, synchronous=synchronous)

    @classmethod
    def create_schema(cls, path: Path) -> None:
        # Small objects, TempURL keys and ACLs live here: owner only, whatever the umask.
        private_database(path)
        conn = connect(path)
        try:
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    def close(self) -> None:
        self.batches.close()
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with disk_full_refused(), transaction(self.conn) as conn:
            yield conn

    # ------------------------------------------------------------------------------ accounts

    def account(self, account: str) -> AccountInfo:
        row = self.conn.execute("SELECT created, meta FROM account WHERE name = ?", (account,)).fetchone()
        totals = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(object_count), 0), COALESCE(SUM(bytes_used), 0) "
            "FROM container WHERE account = ?", (account,)).fetchone()
        created, meta = (row[0], orjson.loads(row[1])) if row else (0.0, {})
        return AccountInfo(account, created, meta, totals[0], totals[1], totals[2])

    def update_account_meta(self, account: str, updates: Mapping[str, str], remove: Iterable[str]) -> None:
        with self.write() as conn:
            self._ensure_account(conn, account)
            row = conn.execute("SELECT meta FROM account WHERE name = ?", (account,)).fetchone()
            meta = _merged(orjson.loads(row[0]), updates, remove)
            conn.execute("UPDATE account SET meta = ? WHERE name = ?", (orjson.dumps(meta).decode(), account))

    def _ensure_account(self, conn: sqlite3.Connection, account: str) -> None:
        conn.execute("INSERT OR IGNORE INTO account (name, created) VALUES (?, ?)", (account, time.time()))

    # ------------------------------------------------------------------------------ containers

    def create_container(self, account: str, name: str, meta: Mapping[str, str]) -> bool:
        with self.write() as conn:
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
        row = self.conn.execute("SELECT id FROM container WHERE account = ? AND name = ?",
                                (account, name)).fetchone()
        if row is None:
            raise NoSuchContainer(f"{account}/{name}")
        return ContainerRef(row[0], account, name)

    def update_container_meta(self, account: str, name: str, updates: Mapping[str, str],
                              remove: Iterable[str]) -> ContainerInfo:
        with self.write() as conn:
            ref = self.container_ref(account, name)
            row = conn.execute("SELECT meta FROM container WHERE id = ?", (ref.id,)).fetchone()
            meta = _merged(orjson.loads(row[0]), updates, remove)
            conn.execute("UPDATE container SET meta = ?, last_modified = ? WHERE id = ?",
                         (orjson.dumps(meta).decode(), time.time(), ref.id))
        info = self.container(account, name)
        assert info is not None
        return info

    def delete_container(self, account: str, name: str, now: float) -> None:
        """Deletes an empty container (expired objects and pending uploads go with it)."""
        with self.write() as conn:
            ref = self.container_ref(account, name)
            live = conn.execute(f"SELECT 1 FROM object WHERE container_id = ? AND {LIVE} LIMIT 1",
                                (ref.id, now)).fetchone()
            if live is not None:
                raise ContainerNotEmpty(f"{account}/{name}")
            for (key,) in conn.execute("SELECT key FROM object WHERE container_id = ?", (ref.id,)).fetchall():
                self._remove_object(conn, ref.id, key, now)
            for (upload_id,) in conn.execute("SELECT id FROM upload WHERE container_id = ?",
                                             (ref.id,)).fetchall():
                self.drop_upload(conn, upload_id, now)
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
        row = self.conn.execute(
            f"SELECT {OBJECT_COLUMNS} FROM object WHERE key = ? AND {LIVE} AND container_id = "
            "(SELECT id FROM container WHERE account = ? AND name = ?)",
            (key, now, account, container)).fetchone()
        return None if row is None else row_to_object(account, container, row)

    def objects(self, container_id: int, key_range: KeyRange, reverse: bool, count: int,
                now: float) -> Iterator[ObjectEntry]:
        """Lazily, so that a listing which seeks elsewhere stops reading."""
        where, params = _range_sql("key", key_range)
        rows = self.conn.execute(
            f"SELECT {LISTING_COLUMNS} FROM object WHERE container_id = ? {where} AND {LIVE} "
            f"ORDER BY key {'DESC' if reverse else 'ASC'} LIMIT ?",
            (container_id, *params, now, count))
        return (ObjectEntry(*row) for row in rows)

    async def commit_object(self, ref: ContainerRef, key: str, new: NewObject, preconditions: Preconditions,
                            now: float, undo: Callable[[], None] | None = None) -> ObjectInfo:
        """Atomically check preconditions, replace any previous version and take the blob references,
        in the next group commit; `undo` runs if it is not applied (see `GroupCommitter.run`)."""
        return await self.batches.run(partial(self.store_object, ref=ref, key=key, new=new,
                                              preconditions=preconditions, now=now), undo)

    def store_object(self, conn: sqlite3.Connection, ref: ContainerRef, key: str, new: NewObject,
                     preconditions: Preconditions, now: float) -> ObjectInfo:
        """The body of `commit_object`, inside a transaction the caller holds."""
        ref = _current_ref(conn, ref)
        previous = conn.execute("SELECT id, size, extents, etag, delete_at FROM object "
                                "WHERE container_id = ? AND key = ?", (ref.id, key)).fetchone()
        live = previous is not None and (previous[4] is None or previous[4] > now)
        check_preconditions(previous[3] if live else None, preconditions)
        if new.new_blob is not None:
            conn.execute("INSERT INTO blob (id, size, refs) VALUES (?, ?, 0)", new.new_blob)
        # References are taken before the previous version's are dropped: they may share blobs.
        self._add_refs(conn, new.extents)
        if previous is not None:
            conn.execute("DELETE FROM object WHERE id = ?", (previous[0],))
            if previous[2] is not None:
                self.drop_refs(conn, decode_extents(previous[2]), now)
        row = (key, new.size, new.etag, new.attrs.content_type, now, new.attrs.delete_at,
               new.attrs.manifest_type, encode_object_attrs(new.attrs, new.checksum, new.parts),
               encode_extents(new.extents) if new.inline is None else None, new.attrs.manifest, new.inline)
        conn.execute(f"INSERT INTO object (container_id, {OBJECT_COLUMNS}) VALUES (?{', ?' * len(row)})",
                     (ref.id, *row))
        replaced = (1, previous[1]) if previous is not None else (0, 0)
        self._count(conn, ref.id, 1 - replaced[0], new.size - replaced[1], now)
        return row_to_object(ref.account, ref.name, row)

    def live_etag(self, conn: sqlite3.Connection, container_id: int, key: str, now: float) -> str | None:
        row = conn.execute(f"SELECT etag FROM object WHERE container_id = ? AND key = ? AND {LIVE}",
                           (container_id, key, now)).fetchone()
        return None if row is None else str(row[0])

    def locked_object(self, conn: sqlite3.Connection, account: str, container: str, key: str,
                      now: float) -> ObjectInfo:
        """An object read inside a write transaction (copy and manifest sources)."""
        row = conn.execute(
            f"SELECT {OBJECT_COLUMNS} FROM object WHERE key = ? AND {LIVE} AND container_id = "
            "(SELECT id FROM container WHERE account = ? AND name = ?)",
            (key, now, account, container)).fetchone()
        if row is None:
            self.container_ref(account, container)
            raise NoSuchObject(f"{account}/{container}/{key}")
        return row_to_object(account, container, row)

    def object_version(self, conn: sqlite3.Connection, account: str, container: str, key: str,
                       now: float) -> tuple[str, float] | None:
        """(etag, last_modified) of a live object, read inside a write transaction without decoding
        its extents (a manifest's segments are checked unchanged this way)."""
        row = conn.execute(
            f"SELECT etag, last_modified FROM object WHERE key = ? AND {LIVE} AND container_id = "
            "(SELECT id FROM container WHERE account = ? AND name = ?)",
            (key, now, account, container)).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))

    def update_object(self, account: str, container: str, key: str, changes: Mapping[str, Any],
                      now: float) -> ObjectInfo:
        """Rewrites the attributes in `changes` (names of `ObjectAttrs` fields) without touching data."""
        with self.write() as conn:
            ref = self.container_ref(account, container)
            current = self.locked_object(conn, account, container, key, now)
            attrs = _apply_changes(current, changes)
            encoded = encode_object_attrs(attrs, current.checksum, current.parts)
            conn.execute(
                "UPDATE object SET content_type = ?, delete_at = ?, attrs = ? "
                "WHERE container_id = ? AND key = ?",
                (attrs.content_type, attrs.delete_at, encoded, ref.id, key))
            return self.locked_object(conn, account, container, key, now)

    def delete_object(self, account: str, container: str, key: str, preconditions: Preconditions,
                      now: float) -> bool:
        """True if a live object was deleted."""
        with self.write() as conn:
            return self.delete_in(conn, account, container, key, preconditions, now)

    async def delete_object_grouped(self, account: str, container: str, key: str,
                                    preconditions: Preconditions, now: float) -> bool:
        """`delete_object` in the next group commit."""
        return await self.batches.run(partial(self.delete_in, account=account, container=container, key=key,
                                              preconditions=preconditions, now=now))

    def delete_in(self, conn: sqlite3.Connection, account: str, container: str, key: str,
                  preconditions: Preconditions, now: float) -> bool:
        """The body of `delete_object`, inside a transaction the caller holds."""
        row = conn.execute("SELECT id FROM container WHERE account = ? AND name = ?",
                           (account, container)).fetchone()
        if row is None:
            raise NoSuchContainer(f"{account}/{container}")
        etag = self.live_etag(conn, row[0], key, now)
        check_preconditions(etag, preconditions)
        self._remove_object(conn, row[0], key, now)
        return etag is not None

    def expired(self, now: float, limit: int) -> list[tuple[int, str]]:
        return self.conn.execute(
            "SELECT container_id, key FROM object WHERE delete_at <= ? ORDER BY delete_at LIMIT ?",
            (now, limit)).fetchall()

    def reap(self, container_id: int, key: str, now: float) -> None:
        with self.write() as conn:
            row = conn.execute("SELECT delete_at FROM object WHERE container_id = ? AND key = ?",
                               (container_id, key)).fetchone()
            if row is not None and row[0] is not None and row[0] <= now:
                self._remove_object(conn, container_id, key, now)

    def _remove_object(self, conn: sqlite3.Connection, container_id: int, key: str, now: float) -> None:
        row = conn.execute("SELECT id, size, extents FROM object WHERE container_id = ? AND key = ?",
                           (container_id, key)).fetchone()
        if row is None:
            return
        conn.execute("DELETE FROM object WHERE id = ?", (row[0],))
        self._count(conn, container_id, -1, -row[1], now)
        if row[2] is not None:
            self.drop_refs(conn, decode_extents(row[2]), now)

    def _count(self, conn: sqlite3.Connection, container_id: int, objects: int, size: int,
               now: float) -> None:
        conn.execute("UPDATE container SET object_count = object_count + ?, bytes_used = bytes_used + ?, "
                     "last_modified = ? WHERE id = ?", (objects, size, now, container_id))

    # ------------------------------------------------------------------------------ blob references

    def _add_refs(self, conn: sqlite3.Connection, extents: Iterable[Extent]) -> None:
        counts = Counter(extent.blob_id for extent in extents if extent.blob_id is not None)
        for blob_id, count in counts.items():
            conn.execute("UPDATE blob SET refs = refs + ?, freed_at = NULL WHERE id = ?", (count, blob_id))

    def drop_refs(self, conn: sqlite3.Connection, extents: Iterable[Extent], now: float) -> None:
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

    def drop_upload(self, conn: sqlite3.Connection, upload_id: str, now: float) -> None:
        parts = conn.execute("SELECT blob_id, size FROM part WHERE upload_id = ?", (upload_id,)).fetchall()
        self.drop_refs(conn, (Extent(blob_id, 0, size) for blob_id, size in parts), now)
        conn.execute("DELETE FROM part WHERE upload_id = ?", (upload_id,))
        conn.execute("DELETE FROM upload WHERE id = ?", (upload_id,))


def check_preconditions(current_etag: str | None, preconditions: Preconditions) -> None:
    if preconditions.if_none_match_star and current_etag is not None:
        raise PreconditionFailed("the object exists")
    wanted = preconditions.if_match_etag
    if wanted is not None and (current_etag is None or wanted.strip().strip('"') not in (current_etag, "*")):
        raise PreconditionFailed("the object's etag differs")


def _current_ref(conn: sqlite3.Connection, ref: ContainerRef) -> ContainerRef:
    """The container named by `ref` as it is now, looked up by name: `ref` may come from a cache,
    and the container may have been deleted or recreated (with another id) since."""
    row = conn.execute("SELECT id FROM container WHERE account = ? AND name = ?",
                       (ref.account, ref.name)).fetchone()
    if row is None:
        raise NoSuchContainer(f"{ref.account}/{ref.name}")
    return ref if row[0] == ref.id else ContainerRef(row[0], ref.account, ref.name)


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
    return ObjectAttrs(**fields)


def _merged(meta: dict[str, str], updates: Mapping[str, str], remove: Iterable[str]) -> dict[str, str]:
    for name in remove:
        meta.pop(name, None)
    meta.update(updates)
    return meta


def _container_info(account: str, row: Sequence[Any]) -> ContainerInfo:
    return ContainerInfo(account, row[0], row[1], decode_attrs(row[2]), row[3], row[4], row[5])


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
