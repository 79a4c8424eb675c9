"""PostgreSQL through psycopg 3: a connection pool per database object (so per process), autocommit
connections that look like sqlite3's to the code (`execute` with `?` statements, rows by index and name).

Writers are serialized as SQLite's `BEGIN IMMEDIATE` serializes them: a transaction that writes starts
with `BEGIN` and then waits for a transaction-scoped advisory lock (`pg_advisory_xact_lock`), one per
database role (`write_lock`: the storage catalog's, identity's), released by COMMIT or ROLLBACK. So
read-then-write logic (preconditions, quotas, version ordering) sees every earlier write committed and
no concurrent one, under PostgreSQL's default READ COMMITTED isolation: no serialization failures and,
since every writer takes the same single lock first, no deadlocks between writers, hence no retries.
Reads outside a transaction see the latest committed state, as on SQLite in autocommit mode.
Schema changes take a second, cluster-wide lock first (`MIGRATION_LOCK`), so that processes (or nodes)
that start at once create or upgrade each schema exactly once.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import adapt, pq
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool

from stackbox.sql.translate import split_script, to_postgres

DEFAULT_POOL_SIZE = 16


def lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key for a name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


MIGRATION_LOCK = lock_key("stackbox:schema")


class NamedRow(tuple[Any, ...]):
    """A row by position (`row[0]`, unpacking) and by column name (`row["name"]`), as `sqlite3.Row`."""

    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[NamedRow]:
    return type("Row", (NamedRow,), {"_index": {name: index for index, name in enumerate(names)}})


def _named_rows(cursor: Any) -> RowMaker[NamedRow]:
    description = cursor.description
    if description is None:
        return NamedRow
    return _row_class(tuple(column.name for column in description))


class _BoolAsInteger(adapt.Dumper):
    """SQLite stores booleans as integers; the columns that hold them are integers here too."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericAsNumber(adapt.Loader):
    """SUM() of integers is a numeric in PostgreSQL, an integer in SQLite: load it as int (or float)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.autocommit = True
    conn.adapters.register_dumper(bool, _BoolAsInteger)
    conn.adapters.register_loader("numeric", _NumericAsNumber)


class PgConnection:
    """One pooled psycopg connection, in autocommit mode, speaking SQLite's SQL (`translate`)."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], write_lock: int,
                 release: Any = None) -> None:
        self.raw = conn
        self.raw.row_factory = _named_rows
        self.write_lock = write_lock
        self._release = release

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        if sql == "BEGIN IMMEDIATE":
            return self.begin(self.write_lock)
        return self.raw.execute(to_postgres(sql), parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        cursor.executemany(to_postgres(sql), seq_of_parameters)
        return cursor

    def executescript(self, script: str, /) -> None:
        for statement in split_script(script):
            self.execute(statement)

    def begin(self, *locks: int) -> psycopg.Cursor[Any]:
        cursor = self.raw.execute("BEGIN")
        for key in locks:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        return cursor

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def close(self) -> None:
        if self._release is not None:
            self._release(self.raw)
            self._release = None
        elif not self.raw.closed:
            self.raw.close()


class PostgresDatabase:
    """A PostgreSQL database by URL. `connection()` is the calling thread's own connection (taken from
    the pool at its first use, kept until `close()`); `connect()` a connection for the caller to close."""

    dialect = "postgresql"

    def __init__(self, url: str, *, write_lock: str = "catalog", pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self.location = _without_password(url)
        self.write_lock = lock_key(f"stackbox:{write_lock}")
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, configure=_configure, open=True,
                                    name=f"stackbox-{write_lock}")
        self._local = threading.local()
        self._handed_out: list[PgConnection] = []
        self._guard = threading.Lock()

    def connect(self) -> PgConnection:
        return PgConnection(self._pool.getconn(), self.write_lock, self._pool.putconn)

    def connection(self) -> PgConnection:
        conn: PgConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
            with self._guard:
                self._handed_out.append(conn)
        return conn

    def close(self) -> None:
        with self._guard:
            handed_out, self._handed_out = self._handed_out, []
        for conn in handed_out:
            conn.close()
        self._pool.close()


def _without_password(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', '')}/" \
        f"{info.get('dbname', '')}"
