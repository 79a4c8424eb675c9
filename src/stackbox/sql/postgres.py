"""PostgreSQL through psycopg 3: a connection pool per database object (so per process), autocommit
connections that look like sqlite3's to the code (`execute` with `?` statements, rows by index and name).

Writers are serialized as SQLite's `BEGIN IMMEDIATE` serializes them: a transaction that writes starts
with `BEGIN` and then waits for a transaction-scoped advisory lock (`pg_advisory_xact_lock`), one per
database role (`write_lock`: the storage catalog's, identity's), released by COMMIT or ROLLBACK. So
read-then-write logic (preconditions, quotas, version ordering) sees every earlier write committed and
no concurrent one, under PostgreSQL's default READ COMMITTED isolation: no serialization failures and,
since every writer takes the same single lock first, no deadlocks between writers, hence no retries.
Writers whose reads and writes stay within known scopes (the object writes of one container: the
group commit's) may instead take the role's lock shared and one lock per scope exclusively
(`begin_scoped`): they exclude each other per scope, and every plain writer excludes them all.
Reads outside a transaction see the latest committed state, as on SQLite in autocommit mode.
Schema changes take a second, cluster-wide lock first (`MIGRATION_LOCK`), so that processes (or nodes)
that start at once create or upgrade each schema exactly once.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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
    # The result's field names, not `cursor.description` (which builds a Column object per field:
    # ~25 µs a query here, for the 22 columns of an object read).
    result = cursor.pgresult
    if result is None or not result.nfields:
        return NamedRow
    return _row_class(tuple(result.fname(index).decode() for index in range(result.nfields)))


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
    """One pooled psycopg connection, in autocommit mode, speaking SQLite's SQL (`translate`).

    A connection the server dropped while it was idle (a restart, a failover, an idle timeout) is
    replaced from the pool when the next statement fails on it, and that statement retried, if it
    could not have changed anything: a read or the BEGIN of a transaction, outside a transaction. A
    connection lost inside a transaction fails that transaction (the caller sees the error)."""

    dialect = "postgresql"

    def __init__(self, pool: ConnectionPool[Any], write_lock: int) -> None:
        self._pool: ConnectionPool[Any] | None = pool
        self.raw = self._take(pool)
        self.write_lock = write_lock
        #: Between our BEGIN and its COMMIT or ROLLBACK (the server's view is gone with a lost connection).
        self._transaction = False
        self._pipeline: psycopg.Pipeline | None = None
        #: Statements other than SELECT sent in pipeline mode so far (see `commits._optimistic`).
        self.changes = 0
        #: Reads sent ahead in this pipeline (`prefetch`), by statement and parameters.
        self._prefetched: dict[tuple[str, tuple[Any, ...]], _QueuedCursor] = {}

    @staticmethod
    def _take(pool: ConnectionPool[Any]) -> psycopg.Connection[Any]:
        raw = pool.getconn()
        raw.row_factory = _named_rows
        return raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        if sql == "BEGIN IMMEDIATE":
            return self.begin(self.write_lock)
        if sql in ("COMMIT", "ROLLBACK"):
            return self._end(sql)
        if self._prefetched:
            prefetched = self._prefetched.pop((sql, tuple(parameters)), None)
            if prefetched is not None:
                return prefetched  # type: ignore[return-value]
        statement = to_postgres(sql)
        if self._pipeline is not None:
            if not _reads_only(statement):
                self.changes += 1
            return _QueuedCursor(self.raw.execute(statement, parameters), self._pipeline)  # type: ignore[return-value]
        retry = not self._transaction and _reads_only(statement)
        if retry and self.raw.broken:
            self._reconnected()
        try:
            return self.raw.execute(statement, parameters)
        except psycopg.OperationalError:
            if not (retry and self._reconnected()):
                raise
        return self.raw.execute(statement, parameters)

    def _end(self, sql: str) -> psycopg.Cursor[Any]:
        self._transaction = False
        if sql == "ROLLBACK" and self._reconnected():
            return self.raw.cursor()  # the transaction went with the lost connection
        return self.raw.execute(sql)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        cursor.executemany(to_postgres(sql), seq_of_parameters)
        return cursor

    def executescript(self, script: str, /) -> None:
        for statement in split_script(script):
            self.execute(statement)

    def begin(self, *locks: int) -> psycopg.Cursor[Any]:
        """BEGIN, then each of `locks` exclusively, in that order."""
        cursor = self._begin()
        for key in locks:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        return cursor

    def begin_scoped(self, scopes: Iterable[int]) -> psycopg.Cursor[Any]:
        """BEGIN for writers that only touch what `scopes` name (e.g. containers): this role's write
        lock shared (a plain `BEGIN IMMEDIATE` takes it exclusively, so it excludes them all), then
        each scope's lock exclusively, in increasing order (so that such writers never deadlock)."""
        cursor = self._begin()
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", (self.write_lock,))
        for key in sorted(set(scopes)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        return cursor

    def _begin(self) -> psycopg.Cursor[Any]:
        self._reconnected()
        try:
            cursor = self.raw.execute("BEGIN")
        except psycopg.OperationalError:
            if not self._reconnected():
                raise
            cursor = self.raw.execute("BEGIN")
        self._transaction = True
        return cursor

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """Until the end of the block, statements are sent without waiting for their results (psycopg's
        pipeline mode): a round trip only where a row (or a row count) is read, at `sync()`, and at
        the end of the block, which raises the first error of what was still unconfirmed."""
        with self.raw.pipeline() as pipeline:
            self._pipeline = pipeline
            try:
                yield
            finally:
                self._pipeline = None
                self._prefetched.clear()

    def prefetch(self, reads: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """In a `pipeline()` block: send these reads (statement, parameters) now, without waiting;
        the first `execute` of the same statement with the same parameters in the block gets that
        read's cursor instead of sending it again. Only for reads whose result nothing executed in
        between can change: the server ran them before it."""
        assert self._pipeline is not None
        for sql, parameters in reads:
            self._prefetched[sql, tuple(parameters)] = _QueuedCursor(
                self.raw.execute(to_postgres(sql), parameters), self._pipeline)

    def sync(self) -> None:
        """In a `pipeline()` block: wait for the results of every statement sent so far (raising the
        first error among them); no-op outside one."""
        if self._pipeline is not None:
            self._pipeline.sync()

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def _reconnected(self) -> bool:
        """Whether the connection was lost and has been replaced by a fresh one."""
        if not self.raw.broken or self._pool is None:
            return False
        self._pool.putconn(self.raw)  # the pool discards a broken connection
        self.raw = self._take(self._pool)
        return True

    def close(self) -> None:
        if self._pool is not None:
            self._pool.putconn(self.raw)
            self._pool = None


class _QueuedCursor:
    """The cursor of a statement sent in pipeline mode. psycopg waits for its rows when they are
    fetched, not for its row count: reading that syncs the pipeline first."""

    __slots__ = ("_cursor", "_pipeline")

    def __init__(self, cursor: psycopg.Cursor[Any], pipeline: psycopg.Pipeline) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    @property
    def rowcount(self) -> int:
        self._pipeline.sync()
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _reads_only(statement: str) -> bool:
    return statement.lstrip()[:6].upper() == "SELECT"


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
        return PgConnection(self._pool, self.write_lock)

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
