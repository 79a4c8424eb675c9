"""The catalog's schema, its version (SQLite: `PRAGMA user_version`; PostgreSQL: the `schema_version`
table, see `stackbox.sql`) and the upgrades between versions. The DDL is written in SQLite's spelling and
translated for PostgreSQL (`stackbox.sql.translate`); a PostgreSQL catalog starts at `CURRENT`.

Schema 1 (the first release, recorded as user_version 0): one `object` row per (container, key).
Schema 2: objects are versions. Every row has an internal `version`, sortable newest first within a
key (see `versions.new_version`); `is_null` marks S3's `null` version (the only kind an
unversioned container holds), `latest` the key's current version, `marker` a delete marker. The
partial indexes keep the hot paths O(page) however many old versions a key has: a listing reads
`object_listed` (current, not deleted), a read `object_latest`, a version listing `object_version`.
Schema 3: S3 Object Lock. `container.object_lock` holds a locked container's configuration (JSON,
NULL: no lock); a version's retention (`lock_mode`, `lock_until`) and `legal_hold` are columns, NULL
or 0 when unset, so that an unlocked row stores nothing more than before.
Schema 4: `container.bytes_used` counts every version's bytes (noncurrent ones too, as Swift's
X-Container-Bytes-Used does), no longer the current objects' only; `object_count` is unchanged.
Schema 5: a Swift static large object (`manifest_type` 'slo' with a stored manifest) counts its manifest
document's bytes, not its data, as Swift's do; S3 multipart objects (no manifest) still count their data.

An empty database gets `CURRENT` (schema 2), then every later step: `_STEPS` is append-only, each
release adds the step from the previous version and raises `SCHEMA_VERSION`.

`upgrade()` runs every step from the stored version to `SCHEMA_VERSION` in one transaction, so a
crash mid-upgrade leaves the old schema as it was; a store of a newer schema is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from stackbox.sql import SQLITE, Connection, dialect, schema_transaction, schema_version, set_schema_version
from stackbox.storage.types import SchemaTooNew

SCHEMA_VERSION = 5
#: The catalog's name in PostgreSQL's `schema_version` table (SQLite: the database's user_version).
COMPONENT = "catalog"

_OBJECT_TABLE = """CREATE TABLE {name} (
    id INTEGER PRIMARY KEY, container_id INTEGER NOT NULL, key TEXT NOT NULL, version TEXT NOT NULL,
    is_null INTEGER NOT NULL, latest INTEGER NOT NULL, marker INTEGER NOT NULL,
    size INTEGER NOT NULL, etag TEXT NOT NULL, content_type TEXT NOT NULL, last_modified REAL NOT NULL,
    delete_at INTEGER, manifest_type TEXT, attrs BLOB NOT NULL, extents BLOB, manifest BLOB, inline BLOB)"""

_OBJECT_INDEXES = (
    "CREATE UNIQUE INDEX object_version ON object (container_id, key, version)",
    "CREATE UNIQUE INDEX object_latest ON object (container_id, key) WHERE latest = 1",
    "CREATE INDEX object_listed ON object (container_id, key) WHERE latest = 1 AND marker = 0",
    "CREATE UNIQUE INDEX object_null ON object (container_id, key) WHERE is_null = 1",
    "CREATE INDEX object_delete_at ON object (delete_at) WHERE delete_at IS NOT NULL",
)

#: Schema 2, for an empty database (the later `_STEPS` follow). Wide columns last: listings and heads
#: never read the overflow pages of inline data.
CURRENT = (
    "CREATE TABLE account (name TEXT PRIMARY KEY, created REAL NOT NULL, meta TEXT NOT NULL DEFAULT '{}')",
    """CREATE TABLE container (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}', object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0, last_modified REAL NOT NULL,
    versioning TEXT NOT NULL DEFAULT 'unversioned', UNIQUE (account, name))""",
    "CREATE INDEX container_by_name ON container (name)",
    _OBJECT_TABLE.format(name="object"),
    *_OBJECT_INDEXES,
    """CREATE TABLE blob (
    id TEXT PRIMARY KEY, size INTEGER NOT NULL, refs INTEGER NOT NULL, freed_at REAL) WITHOUT ROWID""",
    "CREATE INDEX blob_freed ON blob (freed_at) WHERE refs = 0",
    """CREATE TABLE upload (
    id TEXT PRIMARY KEY, container_id INTEGER NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
    attrs BLOB NOT NULL) WITHOUT ROWID""",
    "CREATE UNIQUE INDEX upload_by_key ON upload (container_id, key, id)",
    """CREATE TABLE part (
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, blob_id TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, checksum TEXT, last_modified REAL NOT NULL,
    PRIMARY KEY (upload_id, number)) WITHOUT ROWID""",
)

_DATA_COLUMNS = ("container_id, key, size, etag, content_type, last_modified, delete_at, manifest_type, "
                 "attrs, extents, manifest, inline")

#: Schema 1 -> 2: every object becomes the latest, `null` version of its key; its internal version
#: is derived from its modification time, as `versions.new_version` would have made it.
_VERSIONS = (
    "ALTER TABLE container ADD COLUMN versioning TEXT NOT NULL DEFAULT 'unversioned'",
    _OBJECT_TABLE.format(name="object_v2"),
    f"INSERT INTO object_v2 (id, version, is_null, latest, marker, {_DATA_COLUMNS}) "
    "SELECT id, printf('%016x', 9223372036854775807 - CAST(last_modified * 1e9 AS INTEGER)) "
    "|| '0000000000000000', 1, 1, 0, "
    f"{_DATA_COLUMNS} FROM object",
    "DROP TABLE object",
    "ALTER TABLE object_v2 RENAME TO object",
    *_OBJECT_INDEXES,
)

#: Schema 2 -> 3: Object Lock. Added columns cost no rewrite of existing rows.
_OBJECT_LOCK = (
    "ALTER TABLE container ADD COLUMN object_lock TEXT",
    "ALTER TABLE object ADD COLUMN lock_mode TEXT",
    "ALTER TABLE object ADD COLUMN lock_until REAL",
    "ALTER TABLE object ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0",
)

#: Schema 3 -> 4: bytes used count every version (one pass over the versions, at upgrade only).
_VERSION_BYTES = (
    "UPDATE container SET bytes_used = "
    "(SELECT COALESCE(SUM(size), 0) FROM object WHERE object.container_id = container.id)",
)

#: Schema 4 -> 5: a Swift SLO counts its manifest document in bytes used, not its data (as Swift).
_SLO_BYTES = (
    "UPDATE container SET bytes_used = (SELECT COALESCE(SUM(CASE WHEN manifest_type = 'slo' "
    "AND manifest IS NOT NULL THEN length(manifest) ELSE size END), 0) FROM object "
    "WHERE object.container_id = container.id) "
    "WHERE id IN (SELECT DISTINCT container_id FROM object WHERE manifest_type = 'slo')",
)

#: from version -> the statements that lead to the next one (append-only).
_STEPS: dict[int, tuple[str, ...]] = {1: _VERSIONS, 2: _OBJECT_LOCK, 3: _VERSION_BYTES, 4: _SLO_BYTES}
#: The version `CURRENT` creates.
_CURRENT_VERSION = 2


def upgrade(conn: Connection, location: str, *,
            before_commit: Callable[[int], None] | None = None) -> int:
    """Bring the catalog to `SCHEMA_VERSION` in one transaction; returns the version found.
    `before_commit(version)` runs after the last step, inside the transaction (tests crash there).
    On PostgreSQL the transaction holds the cluster-wide schema lock: of processes (or nodes) that
    start at once, the first upgrades and the others then find the schema current."""
    with schema_transaction(conn):
        found = _stored_version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{location} holds a catalog of schema {found}, written by a newer stackbox; this one "
                f"reads schema {SCHEMA_VERSION} at most. Run the newer release, or use another data dir.")
        start = found
        if found == 0:
            _run(conn, CURRENT)
            start = _CURRENT_VERSION
        for version in range(start, SCHEMA_VERSION):
            _run(conn, _STEPS[version])
        set_schema_version(conn, COMPONENT, SCHEMA_VERSION)
        if before_commit is not None:
            before_commit(found)
    return found


def _stored_version(conn: Connection) -> int:
    """0 for an empty database; schema 1 stores (SQLite only) had no user_version (0) but have tables."""
    version = schema_version(conn, COMPONENT)
    if version or dialect(conn) != SQLITE:
        return version
    tables = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'object'").fetchone()
    return 0 if tables is None else 1


def _run(conn: Connection, statements: tuple[str, ...]) -> None:
    for statement in statements:
        conn.execute(statement)
