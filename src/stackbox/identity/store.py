"""The identity database: its schema and every query the identity service runs, on SQLite (the data
dir's identity.db) or PostgreSQL (the metadata database, tables shared by every node).

Rows answer by position and by column name (`sqlite3.Row`, `NamedRow`). Every committed write calls
`on_write` (the shared cache epoch bump), so a change is visible to every worker's caches at once.
Statements are SQLite's, translated by `stackbox.sql`; the table `user` is always quoted (a reserved
word in PostgreSQL), and rows list in insertion order (`rowid` on SQLite, a `seq` column on PostgreSQL).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stackbox.sql import (
    SQLITE,
    Connection,
    Database,
    NamedRow,
    open_database,
    schema_transaction,
    schema_version,
    set_schema_version,
    transaction,
)
from stackbox.sql.postgres import lock_key
from stackbox.sql.translate import split_script
from stackbox.storage.types import SchemaTooNew

Row = sqlite3.Row | NamedRow

# assignment.target_id is a project id (target_type 'project') or a domain id ('domain').
# credential.encrypted_blob is encrypted at rest; for type 'ec2' the id is sha256(access), so lookups by
# access are by id.
# revoked_target holds Keystone's revocation events on disable: tokens naming the user, project or domain
# issued at or before revoked_at stay invalid after it is enabled again.
# access_rule: a user's access rules, shared by the application credentials that name them.
# auth_failure: consecutive failed password checks, for the lockout policy.
SCHEMA = """
CREATE TABLE IF NOT EXISTS domain (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS project (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL REFERENCES domain(id),
    description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1, UNIQUE (domain_id, name));
CREATE TABLE IF NOT EXISTS "user" (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL REFERENCES domain(id),
    enabled INTEGER NOT NULL DEFAULT 1, password_hash TEXT, password_changed_at REAL NOT NULL,
    default_project_id TEXT, email TEXT, description TEXT, UNIQUE (domain_id, name));
CREATE TABLE IF NOT EXISTS role (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT);
CREATE TABLE IF NOT EXISTS implied_role (
    prior_role_id TEXT NOT NULL REFERENCES role(id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES role(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id));
CREATE TABLE IF NOT EXISTS assignment (
    user_id TEXT NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
    target_type TEXT NOT NULL, target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES role(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, target_type, target_id, role_id));
CREATE INDEX IF NOT EXISTS assignment_target ON assignment (target_id);
CREATE TABLE IF NOT EXISTS region (
    id TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', parent_region_id TEXT);
CREATE TABLE IF NOT EXISTS service (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS endpoint (
    id TEXT PRIMARY KEY, service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
    interface TEXT NOT NULL, region_id TEXT REFERENCES region(id), url TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS application_credential (
    id TEXT PRIMARY KEY, name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
    description TEXT, secret_hash TEXT NOT NULL, expires_at REAL, unrestricted INTEGER NOT NULL DEFAULT 0,
    role_ids TEXT NOT NULL, UNIQUE (user_id, name));
CREATE TABLE IF NOT EXISTS credential (
    id TEXT PRIMARY KEY, type TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
    project_id TEXT REFERENCES project(id) ON DELETE CASCADE,
    app_cred_id TEXT REFERENCES application_credential(id) ON DELETE CASCADE,
    encrypted_blob BLOB NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS credential_user ON credential (user_id);
CREATE TABLE IF NOT EXISTS revoked_audit_id (audit_id TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_target (target_id TEXT PRIMARY KEY, revoked_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS access_rule (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
    service TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, UNIQUE (user_id, service, method, path));
CREATE TABLE IF NOT EXISTS app_cred_access_rule (
    app_cred_id TEXT NOT NULL REFERENCES application_credential(id) ON DELETE CASCADE,
    access_rule_id TEXT NOT NULL REFERENCES access_rule(id),
    PRIMARY KEY (app_cred_id, access_rule_id));
CREATE INDEX IF NOT EXISTS app_cred_access_rule_rule ON app_cred_access_rule (access_rule_id);
CREATE TABLE IF NOT EXISTS auth_failure (
    user_id TEXT PRIMARY KEY REFERENCES "user"(id) ON DELETE CASCADE, count INTEGER NOT NULL,
    last_at REAL NOT NULL);
"""


#: application_credential.unrestricted holds Keystone's three states: unset (shown as null), true, false.
UNRESTRICTED_CODES: dict[bool | None, int] = {None: 0, True: 1, False: -1}


def unrestricted_flag(app_cred: Row) -> bool | None:
    """The `unrestricted` flag as the request gave it (None when it was left out)."""
    return {1: True, -1: False}.get(app_cred["unrestricted"])


def is_restricted(app_cred: Row) -> bool:
    return unrestricted_flag(app_cred) is not True


def new_id() -> str:
    return uuid.uuid4().hex


#: Tables listed in insertion order: on PostgreSQL each has a `seq` column for it (SQLite's rowid).
ORDERED_TABLES = ("domain", "project", '"user"', "role", "implied_role", "assignment", "region", "service",
                  "endpoint", "application_credential", "credential", "access_rule")

#: PostgreSQL only: the keys every node shares, each sealed under the cluster key file (identity/keys.py).
SHARED_KEYS_SCHEMA = "CREATE TABLE IF NOT EXISTS identity_key (name TEXT PRIMARY KEY, sealed BLOB NOT NULL)"

#: The identity schema's version (PostgreSQL's schema_version table; SQLite's tables are version 1).
SCHEMA_VERSION = 1
COMPONENT = "identity"


def _quoted(table: str) -> str:
    return '"user"' if table == "user" else table


class Store:
    def __init__(self, database: Database, on_write: Callable[[], object] = lambda: None,
                 announce: Callable[[Connection], object] | None = None) -> None:
        """`on_write` runs after each write commits; `announce` inside its transaction, before COMMIT
        (a cluster's NOTIFY: the other nodes hear of the write if and only if it commits)."""
        self.database = database
        self._on_write = on_write
        self._announce = announce
        self._order = "rowid" if database.dialect == SQLITE else "seq"

    @classmethod
    def open(cls, target: str | Path, on_write: Callable[[], object] = lambda: None,
             *, pool_size: int | None = None, announce: Callable[[Connection], object] | None = None
             ) -> Store:
        """The store in a SQLite file or a PostgreSQL database (by URL)."""
        return cls(open_database(target, write_lock=COMPONENT, named_rows=True, pool_size=pool_size),
                   on_write, announce)

    @property
    def conn(self) -> Connection:
        """The calling thread's connection (one shared connection on SQLite)."""
        conn: Connection = self.database.connection()
        return conn

    @property
    def embedded(self) -> bool:
        return self.database.dialect == SQLITE

    def create_schema(self) -> int:
        """Create the tables (idempotent; on PostgreSQL once, whichever node starts first); the schema
        version found (0: none), as `stackbox migrate` reports it."""
        if self.embedded:
            existing = self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'user'")
            found = 0 if existing is None else SCHEMA_VERSION
            self._create_sqlite_schema()
            return found
        with schema_transaction(self.conn) as conn:
            found = schema_version(conn, COMPONENT)
            if found > SCHEMA_VERSION:
                raise SchemaTooNew(f"the identity schema in {self.database.location} is version {found}, "
                                   f"newer than this release's ({SCHEMA_VERSION})")
            if found < SCHEMA_VERSION:
                _create_postgres_schema(conn)
                set_schema_version(conn, COMPONENT, SCHEMA_VERSION)
        return found

    def _create_sqlite_schema(self) -> None:
        self.conn.executescript(SCHEMA)  # type: ignore[attr-defined]
        path = Path(self.database.location)
        # Password hashes and (encrypted) credentials live here: owner only.
        for suffix in ("", "-wal", "-shm"):
            candidate = Path(f"{path}{suffix}")
            if candidate.exists():
                candidate.chmod(0o600)

    def close(self) -> None:
        self.database.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One atomic write; caches everywhere are invalidated once it is committed."""
        with transaction(self.conn) as conn:
            yield conn
            if self._announce is not None:
                self._announce(conn)
        self._on_write()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self.conn.execute(sql, params).fetchall())

    def select(self, table: str, filters: dict[str, Any], order: str | None = None) -> list[Row]:
        """Rows of `table` whose columns equal the given values (None values are ignored), in insertion
        order unless `order` is given."""
        used = {name: value for name, value in filters.items() if value is not None}
        where = " AND ".join(f"{name} = ?" for name in used) or "1 = 1"
        return self.all(f"SELECT * FROM {_quoted(table)} WHERE {where} ORDER BY {order or self._order}",
                        list(used.values()))

    def get(self, table: str, ident: str) -> Row | None:
        return self.one(f"SELECT * FROM {_quoted(table)} WHERE id = ?", (ident,))

    def insert(self, table: str, values: dict[str, Any]) -> None:
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.write() as conn:
            conn.execute(f"INSERT INTO {_quoted(table)} ({names}) VALUES ({marks})", list(values.values()))

    def update(self, table: str, ident: str, values: dict[str, Any]) -> None:
        if not values:
            return
        sets = ", ".join(f"{name} = ?" for name in values)
        with self.write() as conn:
            conn.execute(f"UPDATE {_quoted(table)} SET {sets} WHERE id = ?", [*values.values(), ident])

    def delete(self, table: str, ident: str) -> bool:
        with self.write() as conn:
            return bool(conn.execute(f"DELETE FROM {_quoted(table)} WHERE id = ?", (ident,)).rowcount > 0)

    # Lookups by name -----------------------------------------------------------------------------

    def domain_by_name(self, name: str) -> Row | None:
        return self.one("SELECT * FROM domain WHERE name = ?", (name,))

    def project_by_name(self, name: str, domain_id: str) -> Row | None:
        return self.one("SELECT * FROM project WHERE name = ? AND domain_id = ?", (name, domain_id))

    def user_by_name(self, name: str, domain_id: str) -> Row | None:
        return self.one('SELECT * FROM "user" WHERE name = ? AND domain_id = ?', (name, domain_id))

    def role_by_name(self, name: str) -> Row | None:
        return self.one("SELECT * FROM role WHERE name = ?", (name,))

    # Roles and assignments -----------------------------------------------------------------------

    def direct_role_ids(self, user_id: str, target_id: str) -> set[str]:
        rows = self.all("SELECT role_id FROM assignment WHERE user_id = ? AND target_id = ?",
                        (user_id, target_id))
        return {row["role_id"] for row in rows}

    def expand_implied(self, role_ids: Iterable[str]) -> set[str]:
        """The roles plus every role they imply, transitively."""
        found = set(role_ids)
        frontier = list(found)
        while frontier:
            marks = ", ".join("?" for _ in frontier)
            rows = self.all(f"SELECT implied_role_id FROM implied_role WHERE prior_role_id IN ({marks})",
                            frontier)
            frontier = [row[0] for row in rows if row[0] not in found]
            found.update(frontier)
        return found

    def implied_role_ids(self, prior_role_id: str) -> list[str]:
        """The roles `prior_role_id` implies directly (one step, not transitively)."""
        rows = self.all(f"SELECT implied_role_id FROM implied_role WHERE prior_role_id = ? "
                        f"ORDER BY {self._order}", (prior_role_id,))
        return [row[0] for row in rows]

    def role_inferences(self) -> list[tuple[str, str]]:
        """Every (prior role id, implied role id) rule."""
        rows = self.all(f"SELECT prior_role_id, implied_role_id FROM implied_role ORDER BY {self._order}")
        return [(row[0], row[1]) for row in rows]

    def roles(self, role_ids: Iterable[str]) -> list[Row]:
        ids = list(role_ids)
        marks = ", ".join("?" for _ in ids)
        return self.all(f"SELECT * FROM role WHERE id IN ({marks}) ORDER BY name", ids) if ids else []

    def assign(self, user_id: str, target_type: str, target_id: str, role_id: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO assignment (user_id, target_type, target_id, role_id) "
                         "VALUES (?, ?, ?, ?)", (user_id, target_type, target_id, role_id))

    def unassign(self, user_id: str, target_id: str, role_id: str) -> bool:
        with self.write() as conn:
            cursor = conn.execute(
                "DELETE FROM assignment WHERE user_id = ? AND target_id = ? AND role_id = ?",
                (user_id, target_id, role_id))
            return bool(cursor.rowcount > 0)

    def assignments(self, user_id: str | None, target_id: str | None, role_id: str | None) -> list[Row]:
        return self.select("assignment", {"user_id": user_id, "target_id": target_id, "role_id": role_id})

    def imply(self, prior_role_id: str, implied_role_id: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO implied_role (prior_role_id, implied_role_id) VALUES (?, ?)",
                         (prior_role_id, implied_role_id))

    def target_ids_of_user(self, user_id: str, target_type: str) -> list[str]:
        rows = self.all("SELECT DISTINCT target_id FROM assignment WHERE user_id = ? AND target_type = ?",
                        (user_id, target_type))
        return [row[0] for row in rows]

    def delete_target(self, table: str, ident: str) -> bool:
        """Delete a project or domain and the role assignments on it."""
        with self.write() as conn:
            conn.execute("DELETE FROM assignment WHERE target_id = ?", (ident,))
            return bool(conn.execute(f"DELETE FROM {table} WHERE id = ?", (ident,)).rowcount > 0)

    # Tokens --------------------------------------------------------------------------------------

    def revoke_audit_ids(self, audit_ids: Iterable[str], expires_at: float) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM revoked_audit_id WHERE expires_at < ?", (time.time(),))
            conn.executemany("INSERT OR IGNORE INTO revoked_audit_id VALUES (?, ?)",
                             [(audit_id, expires_at) for audit_id in audit_ids])

    def any_revoked(self, audit_ids: Sequence[str]) -> bool:
        marks = ", ".join("?" for _ in audit_ids)
        return self.one(f"SELECT 1 FROM revoked_audit_id WHERE audit_id IN ({marks})", audit_ids) is not None

    def revoke_targets(self, target_ids: Iterable[str], prune_before: float) -> None:
        """Revoke every token naming one of the targets issued until now (older events are pruned)."""
        now = time.time()
        with self.write() as conn:
            conn.execute("DELETE FROM revoked_target WHERE revoked_at < ?", (prune_before,))
            conn.executemany("INSERT INTO revoked_target (target_id, revoked_at) VALUES (?, ?) ON CONFLICT "
                             "(target_id) DO UPDATE SET revoked_at = excluded.revoked_at",
                             [(target_id, now) for target_id in target_ids])

    def any_target_revoked(self, target_ids: Sequence[str], issued_at: float) -> bool:
        marks = ", ".join("?" for _ in target_ids)
        sql = f"SELECT 1 FROM revoked_target WHERE revoked_at >= ? AND target_id IN ({marks})"
        return self.one(sql, [issued_at, *target_ids]) is not None

    # Access rules --------------------------------------------------------------------------------

    def insert_app_cred(self, values: dict[str, Any], rules: Sequence[dict[str, str]]) -> None:
        """An application credential and its access rules, reusing the user's identical or named rules."""
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.write() as conn:
            conn.execute(f"INSERT INTO application_credential ({names}) VALUES ({marks})",
                         list(values.values()))
            for rule in rules:
                rule_id = self._access_rule_id(conn, values["user_id"], rule)
                conn.execute("INSERT OR IGNORE INTO app_cred_access_rule (app_cred_id, access_rule_id) "
                             "VALUES (?, ?)",
                             (values["id"], rule_id))

    @staticmethod
    def _access_rule_id(conn: Connection, user_id: str, rule: dict[str, str]) -> str:
        found = None
        if "id" in rule:
            found = conn.execute("SELECT id FROM access_rule WHERE id = ? AND user_id = ?",
                                 (rule["id"], user_id)).fetchone()
        if found is None and {"service", "method", "path"} <= rule.keys():
            found = conn.execute(
                "SELECT id FROM access_rule WHERE user_id = ? AND service = ? AND method = ? AND path = ?",
                (user_id, rule["service"], rule["method"], rule["path"])).fetchone()
        if found is not None:
            return str(found[0])
        if not {"service", "method", "path"} <= rule.keys():
            raise LookupError(rule.get("id"))
        rule_id = rule.get("id") or new_id()
        conn.execute("INSERT INTO access_rule (id, user_id, service, method, path) VALUES (?, ?, ?, ?, ?)",
                     (rule_id, user_id, rule["service"], rule["method"], rule["path"]))
        return rule_id

    def access_rules_of(self, app_cred_id: str) -> list[Row]:
        return self.all("SELECT access_rule.* FROM access_rule JOIN app_cred_access_rule "
                        "ON access_rule.id = app_cred_access_rule.access_rule_id "
                        f"WHERE app_cred_access_rule.app_cred_id = ? ORDER BY access_rule.{self._order}",
                        (app_cred_id,))

    def access_rule_in_use(self, rule_id: str) -> bool:
        return self.one("SELECT 1 FROM app_cred_access_rule WHERE access_rule_id = ?", (rule_id,)) is not None

    def delete_app_creds_of(self, user_id: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM application_credential WHERE user_id = ?", (user_id,))

    # Shared keys (PostgreSQL) ---------------------------------------------------------------------

    def shared_keys(self) -> dict[str, bytes]:
        """The sealed keys every node shares, by name."""
        return {row[0]: bytes(row[1]) for row in self.all("SELECT name, sealed FROM identity_key")}

    def add_shared_keys(self, sealed: dict[str, bytes]) -> None:
        """Store the keys not stored yet; a name already there keeps its key (the first node's)."""
        with transaction(self.conn) as conn:
            for name in sorted(sealed):
                conn.execute("INSERT OR IGNORE INTO identity_key (name, sealed) VALUES (?, ?)",
                             (name, sealed[name]))

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a lock every node's `exclusive(name)` waits for (PostgreSQL; SQLite needs none: one
        machine's processes run bootstrap one at a time)."""
        if self.embedded:
            yield
            return
        holder = self.database.connect()
        try:
            holder.begin(lock_key(f"stackbox:{name}"))
            try:
                yield
            finally:
                holder.execute("ROLLBACK")
        finally:
            holder.close()

    # Lockout -------------------------------------------------------------------------------------
    # Failure counts are read only by password checks, never cached: their writes leave the shared
    # cache epoch alone, so wrong passwords cannot flush every worker's token caches.

    def auth_failures(self, user_id: str) -> Row | None:
        return self.one("SELECT * FROM auth_failure WHERE user_id = ?", (user_id,))

    def record_auth_failure(self, user_id: str) -> None:
        with transaction(self.conn) as conn:
            conn.execute("INSERT INTO auth_failure (user_id, count, last_at) VALUES (?, 1, ?) ON CONFLICT "
                         "(user_id) DO UPDATE SET count = auth_failure.count + 1, last_at = excluded.last_at",
                         (user_id, time.time()))

    def clear_auth_failures(self, user_id: str) -> None:
        with transaction(self.conn) as conn:
            conn.execute("DELETE FROM auth_failure WHERE user_id = ?", (user_id,))


def _create_postgres_schema(conn: Connection) -> None:
    for statement in split_script(SCHEMA):
        conn.execute(statement)
    for table in ORDERED_TABLES:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS seq BIGINT GENERATED BY DEFAULT AS "
                     "IDENTITY")
    conn.execute(SHARED_KEYS_SCHEMA)
