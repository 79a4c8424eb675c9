"""One SQL layer for the embedded SQLite databases and PostgreSQL.

`open_database(path_or_url)` gives a `Database`: a file path is SQLite (`sql.sqlite`: WAL, busy timeout,
autocommit), a `postgresql://` URL is PostgreSQL (`sql.postgres`: psycopg 3, a connection pool per
database object, autocommit). Its connections are used as sqlite3's are: `execute(sql, params)` returns
a cursor (fetchone, fetchall, iteration, rowcount), statements are written once with `?` placeholders in
SQLite's spelling and translated for PostgreSQL (`sql.translate`); where the SQL genuinely differs, code
branches on `dialect(conn)`. On SQLite the connection is a plain `sqlite3.Connection` (nothing in
between on the embedded hot path).

`transaction(conn)` is atomic and serializes writers: `BEGIN IMMEDIATE` on SQLite; on PostgreSQL the
same statement takes the database's write lock (`sql.postgres` explains the choice).
`schema_transaction(conn)` additionally serializes schema changes across processes and nodes, and
`schema_version` / `set_schema_version` keep each component's schema version (`PRAGMA user_version`
on SQLite, whose databases hold one component each; a `schema_version` table on PostgreSQL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg

from stackbox.sql.postgres import MIGRATION_LOCK, NamedRow, PgConnection, PostgresDatabase
from stackbox.sql.sqlite import SqliteDatabase, connect

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "Connection",
    "Cursor",
    "Database",
    "IntegrityError",
    "NamedRow",
    "PgConnection",
    "PostgresDatabase",
    "SqliteDatabase",
    "connect",
    "dialect",
    "is_url",
    "open_database",
    "schema_transaction",
    "schema_version",
    "set_schema_version",
    "transaction",
]

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

#: A uniqueness (or other constraint) violation, whichever the database.
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the code may use of a connection: sqlite3.Connection and PgConnection both are one."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any: ...

    @property
    def in_transaction(self) -> bool: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Connection)


class Database(Protocol):
    dialect: str
    #: Where it is, for messages (no password).
    location: str

    def connect(self) -> Any:
        """A connection of the caller's own, closed by the caller."""

    def connection(self) -> Any:
        """The connection for the calling thread (shared by threads on SQLite)."""

    def close(self) -> None: ...


def is_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def open_database(target: str | Path, *, synchronous: str = "NORMAL", write_lock: str = "catalog",
                  named_rows: bool = False, pool_size: int | None = None) -> Database:
    """`target` is a SQLite file path or a PostgreSQL URL.

    `synchronous` applies to SQLite (`sql.sqlite.connect`), `named_rows` too (PostgreSQL rows always
    answer by name); `write_lock` names the PostgreSQL lock that serializes this database's writers
    (the catalog and identity, sharing one database, need not wait for each other).
    """
    if is_url(target):
        options = {} if pool_size is None else {"pool_size": pool_size}
        return PostgresDatabase(str(target), write_lock=write_lock, **options)
    return SqliteDatabase(Path(target), synchronous=synchronous, named_rows=named_rows)


def dialect(conn: Connection) -> str:
    return SQLITE if isinstance(conn, sqlite3.Connection) else POSTGRESQL


@contextmanager
def transaction(conn: C) -> Iterator[C]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    with _committed(conn):
        yield conn


@contextmanager
def schema_transaction(conn: C) -> Iterator[C]:
    """A transaction for creating or upgrading a schema: one process (of all nodes) at a time."""
    if isinstance(conn, PgConnection):
        conn.begin(MIGRATION_LOCK, conn.write_lock)
    else:
        conn.execute("BEGIN IMMEDIATE")
    with _committed(conn):
        yield conn


@contextmanager
def _committed(conn: Connection) -> Iterator[None]:
    """COMMIT the transaction just begun when the block ends, ROLLBACK on any exception."""
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: Connection, component: str) -> int:
    """The stored schema version of `component` (0: none yet); call inside `schema_transaction`."""
    if isinstance(conn, sqlite3.Connection):
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    _create_version_table(conn)
    row = conn.execute("SELECT version FROM schema_version WHERE component = ?", (component,)).fetchone()
    return 0 if row is None else int(row[0])


def set_schema_version(conn: Connection, component: str, version: int) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.execute(f"PRAGMA user_version = {int(version)}")
        return
    _create_version_table(conn)
    conn.execute("INSERT INTO schema_version (component, version) VALUES (?, ?) "
                 "ON CONFLICT (component) DO UPDATE SET version = excluded.version", (component, version))


def _create_version_table(conn: Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, "
                 "version INTEGER NOT NULL)")
