"""Group commit: concurrent writes of one engine share a transaction, yet each keeps its own outcome."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from stackbox import sql
from stackbox.storage.commits import GroupCommitter, Write
from stackbox.storage.engine import EMBEDDED, Engine
from stackbox.storage.metadata import NewObject
from stackbox.storage.types import (
    DEFAULT_ATTRS,
    NO_PRECONDITIONS,
    NoSuchContainer,
    NoSuchObject,
    PreconditionFailed,
    Preconditions,
)
from storage.conftest import ACCOUNT, chunks, read_all

BIG = os.urandom(200_000)


@pytest.fixture
def database(tmp_path: Path, metadata: str) -> Iterator[sql.Database]:
    db = sql.open_database(tmp_path / "t.db" if metadata == EMBEDDED else metadata, synchronous="FULL")
    setup = db.connect()
    setup.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    setup.close()
    yield db
    db.close()


@pytest.fixture
def committer(database: sql.Database) -> Iterator[GroupCommitter]:
    committer = GroupCommitter(database)
    yield committer
    committer.close()


def insert(key: str, value: int = 0) -> Callable[[sql.Connection], str]:
    def write(conn: sql.Connection) -> str:
        conn.execute("INSERT INTO t VALUES (?, ?)", (key, value))
        return key
    return write


def stored(database: sql.Database) -> dict[str, int]:
    conn = database.connect()
    try:
        return {row[0]: row[1] for row in conn.execute("SELECT k, v FROM t").fetchall()}
    finally:
        conn.close()


async def test_concurrent_writes_share_transactions(committer: GroupCommitter,
                                                     database: sql.Database) -> None:
    batches = 0
    apply = committer._apply

    def counting(writes: list[Write], *how: Any) -> list[Any]:
        nonlocal batches
        batches += 1
        return apply(writes, *how)

    committer._apply = counting  # type: ignore[method-assign]
    keys = await asyncio.gather(*(committer.run(insert(f"k{i}")) for i in range(50)))
    assert keys == [f"k{i}" for i in range(50)]
    assert set(stored(database)) == set(keys)
    assert batches < 50 / 4


async def test_a_failing_write_fails_alone(committer: GroupCommitter, database: sql.Database) -> None:
    def half_then_fail(conn: sql.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('partial', 1)")
        raise PreconditionFailed("no")

    results = await asyncio.gather(committer.run(insert("a")), committer.run(half_then_fail),
                                   committer.run(insert("a")), committer.run(insert("b")),
                                   return_exceptions=True)
    assert results[0] == "a" and results[3] == "b"
    assert isinstance(results[1], PreconditionFailed)
    assert isinstance(results[2], sql.IntegrityError)  # the duplicate key, rolled back alone
    assert stored(database) == {"a": 0, "b": 0}


async def test_a_failed_statement_is_its_writes_even_when_a_later_write_reads_or_raises(
        committer: GroupCommitter, database: sql.Database) -> None:
    """On PostgreSQL no write waits for its own updates' results: the duplicate's error reaches the
    committer in the next write's read (or in the one that raises). It must still be the duplicate's,
    and the writes around it keep their own outcomes."""
    def half_then_fail(conn: sql.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('partial', 1)")
        raise PreconditionFailed("no")

    def count(conn: sql.Connection) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])

    results = await asyncio.gather(committer.run(insert("a")), committer.run(insert("a", 1)),
                                   committer.run(count), committer.run(insert("b", 1)),
                                   committer.run(insert("b", 2)), committer.run(half_then_fail),
                                   committer.run(insert("c")), return_exceptions=True)
    assert results[0] == "a" and results[2] == 1 and results[3] == "b" and results[6] == "c"
    assert isinstance(results[1], sql.IntegrityError) and isinstance(results[4], sql.IntegrityError)
    assert isinstance(results[5], PreconditionFailed)
    assert stored(database) == {"a": 0, "b": 1, "c": 0}


async def test_writes_sharing_a_read_sent_ahead_each_see_the_ones_before(committer: GroupCommitter,
                                                                         database: sql.Database) -> None:
    """On PostgreSQL a batch sends its writes' first reads together at its start: the first write
    of the key gets that result, the next ones must still read what the writes before them left."""
    await committer.run(insert("x", 0))
    read = ("SELECT v FROM t WHERE k = ?", ("x",))

    def bump(conn: sql.Connection) -> int:
        value = int(conn.execute(*read).fetchone()[0])
        conn.execute("UPDATE t SET v = ? WHERE k = 'x'", (value + 1,))
        return value

    other = ("SELECT v FROM t WHERE k = ?", ("y",))
    results = await asyncio.gather(*(committer.run(bump, read=read) for _ in range(3)),
                                   committer.run(insert("y", 7), read=other))
    assert results == [0, 1, 2, "y"]
    assert stored(database) == {"x": 3, "y": 7}


async def test_a_write_gets_its_row_counts_and_reads_its_own_statements(committer: GroupCommitter) -> None:
    """On PostgreSQL the batch's statements are pipelined: a row count must still be the statement's."""
    def bump(conn: sql.Connection) -> tuple[int, int, int]:
        conn.execute("INSERT INTO t VALUES ('n', 1)")
        updated = conn.execute("UPDATE t SET v = v + 1 WHERE k = 'n'").rowcount
        missed = conn.execute("UPDATE t SET v = 0 WHERE k = 'absent'").rowcount
        return updated, missed, conn.execute("SELECT v FROM t WHERE k = 'n'").fetchone()[0]

    results = await asyncio.gather(committer.run(bump), committer.run(insert("other")),
                                   return_exceptions=True)
    assert results == [(1, 0, 2), "other"]


async def test_a_failed_commit_fails_the_whole_batch_and_undoes(committer: GroupCommitter,
                                                               database: sql.Database) -> None:
    def fail_at_commit(writes: list[Write], *how: Any) -> list[Any]:
        committer._conn.execute("BEGIN IMMEDIATE")
        for write in writes:
            write(committer._conn)
        committer._conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("disk I/O error")

    committer._apply = fail_at_commit  # type: ignore[method-assign]
    undone: list[str] = []
    results = await asyncio.gather(*(committer.run(insert(key), partial(undone.append, key))
                                     for key in ("x", "y")), return_exceptions=True)
    assert all(isinstance(result, sqlite3.OperationalError) for result in results)
    assert sorted(undone) == ["x", "y"] and stored(database) == {}


async def test_a_cancelled_caller_still_gets_its_write_applied_or_undone(committer: GroupCommitter,
                                                                        database: sql.Database) -> None:
    undone: list[str] = []
    applied = asyncio.ensure_future(committer.run(insert("kept"), lambda: undone.append("kept")))
    failed = asyncio.ensure_future(committer.run(insert("kept"), lambda: undone.append("duplicate")))
    await asyncio.sleep(0)
    applied.cancel()
    failed.cancel()
    for _ in range(200):  # the commit thread finishes in its own time (slow under load)
        if undone:
            break
        await asyncio.sleep(0.05)
    assert stored(database) == {"kept": 0}
    assert undone == ["duplicate"]


async def test_concurrent_puts_with_one_losing_precondition(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "taken", chunks(b"old"))
    puts = [engine.put_object(ACCOUNT, "box", f"k{i}", chunks(b"v%d" % i)) for i in range(20)]
    conditional = engine.put_object(ACCOUNT, "box", "taken", chunks(BIG),
                                    preconditions=Preconditions(if_match_etag="not-it"))
    results = await asyncio.gather(conditional, *puts, return_exceptions=True)
    assert isinstance(results[0], PreconditionFailed)
    for i in range(20):
        assert await read_all(engine, engine.head_object(ACCOUNT, "box", f"k{i}")) == b"v%d" % i
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "taken")) == b"old"
    assert engine.get_container(ACCOUNT, "box").object_count == 21
    assert len(list(engine._blobs.scan())) == 0  # the rejected body's blob is gone


async def test_a_write_into_a_deleted_and_recreated_container_fails(engine: Engine) -> None:
    engine.create_container(ACCOUNT, "gone")
    ref = engine._catalog.container_ref(ACCOUNT, "gone")
    engine.delete_container(ACCOUNT, "gone")
    engine.create_container("AUTH_other", "new")  # may reuse the id
    new = NewObject(1, "etag", DEFAULT_ATTRS, inline=b"x")
    with pytest.raises(NoSuchContainer):
        await engine._catalog.commit_object(ref, "k", new, NO_PRECONDITIONS, 0.0)
    with pytest.raises(NoSuchObject):
        engine.head_object("AUTH_other", "new", "k")


async def test_grouped_deletes_report_and_check_like_plain_ones(engine: Engine) -> None:
    for key in ("a", "b", "c"):
        await engine.put_object(ACCOUNT, "box", key, chunks(b"data"))
    etag = engine.head_object(ACCOUNT, "box", "c").etag
    results = await asyncio.gather(
        engine.remove_object(ACCOUNT, "box", "a"), engine.remove_object(ACCOUNT, "box", "missing"),
        engine.remove_object(ACCOUNT, "box", "b", Preconditions(if_match_etag="other")),
        engine.remove_object(ACCOUNT, "box", "c", Preconditions(if_match_etag=etag)),
        engine.remove_object(ACCOUNT, "nobox", "a"), return_exceptions=True)
    assert results[:2] == [True, False] and results[3] is True
    assert isinstance(results[2], PreconditionFailed) and isinstance(results[4], NoSuchContainer)
    assert [entry.key for entry in engine.list_objects(ACCOUNT, "box").objects] == ["b"]
    assert engine.get_container(ACCOUNT, "box").object_count == 1


async def test_puts_follow_containers_deleted_and_recreated_by_another_worker(engine: Engine,
                                                                              tmp_path: Path,
                                                                              metadata: str) -> None:
    await engine.put_object(ACCOUNT, "box", "first", chunks(b"1"))  # the container is now cached
    other_worker = Engine(tmp_path / "data", metadata=metadata)
    try:
        other_worker.delete_object(ACCOUNT, "box", "first")
        other_worker.delete_container(ACCOUNT, "box")
        with pytest.raises(NoSuchContainer):
            await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
        assert list(engine._blobs.scan()) == []
        other_worker.create_container("AUTH_elsewhere", "taken")  # may take the old id
        other_worker.create_container(ACCOUNT, "box")
        await engine.put_object(ACCOUNT, "box", "k", chunks(b"new"))
        assert [entry.key for entry in other_worker.list_objects(ACCOUNT, "box").objects] == ["k"]
        assert other_worker.list_objects("AUTH_elsewhere", "taken").objects == []
        assert other_worker.get_container(ACCOUNT, "box").object_count == 1
    finally:
        other_worker.close()


def meeting(log: list[str], name: str, others: dict[str, threading.Event], patience: float) -> Write:
    """A write that logs when it starts and ends, and in between waits (at most `patience` s) for
    another write to have started: where locks keep them apart, the wait runs out alone. It starts
    with a read: on PostgreSQL the batch's BEGIN and locks go out with its first statements, and
    only what it reads is known to come after them."""
    def write(conn: sql.Connection) -> bool:
        conn.execute("SELECT COUNT(*) FROM t").fetchone()
        log.append(f"{name} in")
        others[name].set()
        met = any(event.wait(patience) for other, event in others.items() if other != name)
        log.append(f"{name} out")
        return met
    return write


def two_committers(database: sql.Database, metadata: str) -> tuple[GroupCommitter, GroupCommitter]:
    if metadata == EMBEDDED:
        pytest.skip("on SQLite every write transaction excludes all others")
    return GroupCommitter(database), GroupCommitter(database)


async def test_writes_scoped_to_different_containers_commit_side_by_side(database: sql.Database,
                                                                        metadata: str) -> None:
    first, second = two_committers(database, metadata)
    log: list[str] = []
    started = {"a": threading.Event(), "b": threading.Event()}
    try:
        met = await asyncio.gather(first.run(meeting(log, "a", started, 60), scope=("AUTH_x", "a")),
                                   second.run(meeting(log, "b", started, 60), scope=("AUTH_x", "b")))
    finally:
        first.close()
        second.close()
    assert met == [True, True], log  # each one's transaction was open while the other wrote


@pytest.mark.parametrize("scopes", [(("AUTH_x", "a"), ("AUTH_x", "a")), (("AUTH_x", "a"), None),
                                    (None, None)], ids=["same container", "one unscoped", "unscoped"])
async def test_writes_with_a_scope_in_common_or_none_exclude_each_other(
        database: sql.Database, metadata: str, scopes: tuple[Any, Any]) -> None:
    first, second = two_committers(database, metadata)
    log: list[str] = []
    started = {"a": threading.Event(), "b": threading.Event()}
    try:
        await asyncio.gather(first.run(meeting(log, "a", started, 0.5), scope=scopes[0]),
                             second.run(meeting(log, "b", started, 0.5), scope=scopes[1]))
    finally:
        first.close()
        second.close()
    assert log in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
