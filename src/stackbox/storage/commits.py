"""Group commit: the concurrent metadata writes of one worker share one transaction and one fsync.

A write is a function of a connection that runs inside a transaction the committer holds. Writes
that arrive while a batch is committing wait and form the next batch, so under load a worker pays
one journal fsync per batch instead of one per write, and its event loop keeps serving requests
while the batch runs in the committer's thread (on a connection of its own).

Each write runs under its own SAVEPOINT: one that raises (a failed precondition, a vanished
container) is rolled back alone and gets its exception, the others commit. On PostgreSQL the batch
runs in pipeline mode: a statement whose result nobody reads (INSERT, UPDATE, COMMIT) costs no round
trip of its own, and the batch is first tried without savepoints and without waiting for each
write's updates (`_optimistic`): a round trip per read and one at COMMIT. Only if a write raises
after it changed something, or a statement fails in the server, does the batch run again as above,
with a savepoint and a sync per write (which keeps each write's errors its own). The batch holds
the cluster-wide write lock throughout, and on a busy machine each round trip waits for two
processes to be scheduled, so round trips and statements per write, not fsyncs, bound the write
rate there. A caller's future is
resolved only after the COMMIT has returned, i.e. after the journal was fsynced (with
synchronous=FULL): nothing is acknowledged before it is durable. If BEGIN or COMMIT fails, every
write of the batch gets that error and none of them is applied.

On PostgreSQL the batch's transaction takes the catalog's write lock (`stackbox.sql.postgres`), whose
waiters PostgreSQL wakes as soon as it is released: no file lock is needed there.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from stackbox.sql import Connection, Database, PgConnection, SqliteDatabase
from stackbox.sql.postgres import lock_key
from stackbox.storage.space import as_insufficient_storage

T = TypeVar("T")
Write = Callable[[Any], Any]
#: What a write is confined to (see `GroupCommitter.run`).
Scope = tuple[str, ...]
#: A write's first read, statement and parameters (see `GroupCommitter.run`).
Read = tuple[str, tuple[Any, ...]]

#: Upper bound on the writes of one transaction, so that one batch never holds the lock for long.
MAX_BATCH = 256


@dataclass(slots=True)
class _Pending:
    write: Write
    future: asyncio.Future[Any]
    scope: Scope | None
    read: Read | None


@dataclass(slots=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None


class GroupCommitter:
    def __init__(self, database: Database) -> None:
        self._conn: Connection = database.connect()
        self._lock_fd: int | None = None
        if isinstance(database, SqliteDatabase):
            self._lock_fd = os.open(f"{database.path}-commit.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                    0o600)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stackbox-commit")
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[Any], T],
                  undo: Callable[[], None] | None = None, *, scope: Scope | None = None,
                  read: Read | None = None) -> T:
        """Run `write` in the next batch; returns its result once the batch is durable.

        `undo` runs if the write is not applied, also when the caller was cancelled meanwhile (a
        cancelled caller cannot know the outcome, so it must not clean up by itself). `scope`: names
        that cover all the write reads and changes (e.g. a container's account and name), if it has
        them: on PostgreSQL, a batch whose writes all have a scope excludes only the batches with a
        scope in common (and every plain writer), instead of all writers (`begin_scoped`).
        `read`: the first read the write makes (statement, parameters), if only a write that makes
        the same read first can change its result (e.g. the current version of its key): on
        PostgreSQL, where every write of a batch says it, the batch sends those reads together at
        its start, one round trip for all instead of one per write.
        """
        loop = asyncio.get_running_loop()
        pending = _Pending(write, loop.create_future(), scope, read)
        pending.future.add_done_callback(lambda future: _settle(future, undo))
        self._queue.append(pending)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_all())
        result: T = await asyncio.shield(pending.future)
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)

    async def _flush_all(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._apply, [p.write for p in batch],
                                                      _scopes(batch), _reads(batch))
            except BaseException as error:  # BEGIN or COMMIT failed: nothing of the batch was applied
                outcomes = [_Outcome(error=error)] * len(batch)
            for pending, outcome in zip(batch, outcomes, strict=True):
                _resolve(pending.future, outcome)

    def _apply(self, writes: list[Write], scopes: list[Scope] | None = None,
               reads: Sequence[Read] = ()) -> list[_Outcome]:
        """In the committer thread: one transaction, one savepoint per write (on PostgreSQL, first
        `_optimistic`, without them). `scopes`: those of the writes if every one has one; `reads`:
        what to read ahead."""
        conn = self._conn
        if isinstance(conn, PgConnection):
            with suppress(_Unattributed):  # else rolled back: again, each write under its savepoint
                return _optimistic(conn, writes, scopes, reads)
        with self._queued():
            _begin(conn, scopes)
            try:
                with _pipelined(conn):
                    outcomes = [_savepoint(conn, write) for write in writes]
                    conn.execute("COMMIT")  # confirmed when the pipeline ends
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return outcomes

    @contextmanager
    def _queued(self) -> Iterator[None]:
        """On SQLite, the committers of all workers queue on a file lock first: it wakes the next one as
        soon as it is released, where SQLite's busy handler would poll with sleeps of up to 100 ms."""
        if self._lock_fd is None:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


class _Unattributed(Exception):
    """An optimistic batch cannot tell each write's outcome apart: it was rolled back."""


def _optimistic(conn: PgConnection, writes: list[Write], scopes: list[Scope] | None,
                reads: Sequence[Read]) -> list[_Outcome]:
    """The batch on PostgreSQL with a wait for the server only where a write reads, and at COMMIT:
    BEGIN and the write lock go out with the first write's statements, and no write has a
    savepoint or waits for the results of its updates. A write that raises by itself before it
    changed anything (a precondition, a missing container: what the catalog's writes check first)
    has nothing to roll back and gets its error. Otherwise, a write that raises after it changed
    something, or a statement that fails in the server (its error may surface in a later write's
    read, or only at COMMIT), rolls the whole transaction back and raises `_Unattributed`, so that
    the batch runs again with a savepoint per write. Not when the connection was lost after the
    COMMIT went out: that commit's outcome is unknown."""
    outcomes: list[_Outcome] = []
    committing = False
    try:
        with conn.pipeline():
            _begin(conn, scopes)
            conn.prefetch(reads)
            for write in writes:
                changes = conn.changes
                try:
                    outcomes.append(_Outcome(value=write(conn)))
                except psycopg.Error:
                    raise
                except Exception as error:
                    if conn.changes != changes:
                        raise _Unattributed() from error
                    outcomes.append(_Outcome(error=error))
            committing = True
            conn.execute("COMMIT")  # confirmed when the pipeline ends
    except (psycopg.Error, _Unattributed) as error:
        if conn.raw.broken:
            if committing:
                raise
        elif conn.in_transaction:
            conn.execute("ROLLBACK")
        raise _Unattributed() from error
    return outcomes


def _reads(batch: list[_Pending]) -> list[Read]:
    """The reads to send ahead: none unless every write said its own (one that did not might change
    what another reads). A read that several writes share is sent once: the first of them gets its
    result, the others read again, after the writes before them (`PgConnection.prefetch`)."""
    reads = [pending.read for pending in batch]
    return [] if None in reads else list(dict.fromkeys(reads))  # type: ignore[arg-type]


def _scopes(batch: list[_Pending]) -> list[Scope] | None:
    scopes = [pending.scope for pending in batch]
    return None if None in scopes else scopes  # type: ignore[return-value]


def _begin(conn: Connection, scopes: list[Scope] | None) -> None:
    if scopes is not None and isinstance(conn, PgConnection):
        conn.begin_scoped(lock_key("stackbox:scope:" + "\0".join(scope)) for scope in set(scopes))
    else:
        conn.execute("BEGIN IMMEDIATE")


def _pipelined(conn: Connection) -> AbstractContextManager[None]:
    return conn.pipeline() if isinstance(conn, PgConnection) else nullcontext()


def _savepoint(conn: Connection, write: Write) -> _Outcome:
    conn.execute("SAVEPOINT write")
    try:
        value = write(conn)
        if isinstance(conn, PgConnection):
            conn.sync()  # the errors of its statements still in flight are this write's
        outcome = _Outcome(value=value)
    except Exception as error:
        if isinstance(conn, PgConnection):
            with suppress(psycopg.Error):  # statements after the failed one: "pipeline aborted"
                conn.sync()
        conn.execute("ROLLBACK TO write")
        outcome = _Outcome(error=error)
    conn.execute("RELEASE write")
    return outcome


def _settle(future: asyncio.Future[Any], undo: Callable[[], None] | None) -> None:
    """Also retrieves the exception, which a cancelled caller never will."""
    if not future.cancelled() and future.exception() is not None and undo is not None:
        undo()


def _resolve(future: asyncio.Future[Any], outcome: _Outcome) -> None:
    if outcome.error is not None:
        future.set_exception(as_insufficient_storage(outcome.error))
    else:
        future.set_result(outcome.value)
