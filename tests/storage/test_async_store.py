"""AsyncStore: the async contract over Engine, inline on a local catalog, on threads on a remote one.

The remote path is forced on SQLite (`metadata_threads`), as `STACKBOX_METADATA_THREADS` does for a
server: what a PostgreSQL catalog will take, checked without one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from stackbox.sql import connect
from stackbox.storage.async_store import AsyncStore
from stackbox.storage.engine import Engine
from stackbox.storage.types import (
    NoSuchContainer,
    NoSuchObject,
    ObjectAttrs,
    PreconditionFailed,
    Preconditions,
    WriteChecks,
)
from storage.conftest import ACCOUNT, chunks

THREADS = 3


@pytest.fixture
def local(tmp_path: Path) -> Iterator[AsyncStore]:
    engine = Engine(tmp_path / "data")
    yield AsyncStore(engine)
    engine.close()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[AsyncStore]:
    engine = Engine(tmp_path / "data", metadata_threads=THREADS)
    yield AsyncStore(engine)
    engine.close()


async def _thread_of_a_catalog_call(store: AsyncStore) -> int:
    """The thread that ran a metadata write (its check runs inside the catalog's transaction)."""
    seen: list[int] = []

    def check(meta: Mapping[str, str]) -> None:
        seen.append(threading.get_ident())

    await store.create_container(ACCOUNT, "box")
    await store.update_container_meta(ACCOUNT, "box", {"x-container-meta-a": "1"}, check=check)
    assert len(seen) == 1
    return seen[0]


async def test_a_local_catalog_is_called_on_the_event_loop(local: AsyncStore) -> None:
    assert not local.engine.remote_catalog
    assert await _thread_of_a_catalog_call(local) == threading.get_ident()


async def test_a_remote_catalog_is_called_off_the_event_loop(remote: AsyncStore) -> None:
    assert remote.engine.remote_catalog and remote.engine.executor_threads == THREADS
    assert await _thread_of_a_catalog_call(remote) != threading.get_ident()


async def test_the_event_loop_runs_while_a_remote_catalog_call_waits(remote: AsyncStore,
                                                                    tmp_path: Path) -> None:
    """A metadata write stuck behind another writer's lock holds its thread, not the event loop."""
    blocker = connect(tmp_path / "data" / "meta.db")
    blocker.execute("BEGIN IMMEDIATE")
    try:
        creating = asyncio.create_task(remote.create_container(ACCOUNT, "waits"))
        for _ in range(50):  # the loop keeps turning: other requests would be served meanwhile
            await asyncio.sleep(0)
        assert not creating.done()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await creating is True
    assert (await remote.get_container(ACCOUNT, "waits")).name == "waits"


async def test_errors_come_back_from_the_threads_unchanged(remote: AsyncStore) -> None:
    with pytest.raises(NoSuchContainer):
        await remote.get_container(ACCOUNT, "absent")
    await remote.create_container(ACCOUNT, "box")
    with pytest.raises(NoSuchObject):
        await remote.head_object(ACCOUNT, "box", "absent")
    await remote.put_object(ACCOUNT, "box", "k", chunks(b"data"))
    with pytest.raises(PreconditionFailed):
        await remote.put_object(ACCOUNT, "box", "k", chunks(b"new"),
                                preconditions=Preconditions(if_match_etag="0"))
    kept = await remote.head_object(ACCOUNT, "box", "k")
    assert b"".join([chunk async for chunk in remote.read(kept)]) == b"data"


async def test_concurrent_calls_on_several_threads_keep_their_own_transactions(remote: AsyncStore) -> None:
    """Each metadata thread has its own connection: writes in flight together do not end up inside
    one another's transaction (one shared SQLite connection fails them with OperationalError)."""
    await remote.create_container(ACCOUNT, "box")
    names = [f"c{number:03d}" for number in range(40)]
    created = await asyncio.gather(*(remote.create_container(ACCOUNT, name) for name in names))
    assert all(created)
    await asyncio.gather(*(remote.update_container_meta(ACCOUNT, name, {"x-container-meta-n": name})
                           for name in names))
    written = await asyncio.gather(*(remote.put_object(ACCOUNT, "box", f"k{number}", chunks(b"x" * number))
                                     for number in range(40)))
    assert [info.size for info in written] == list(range(40))
    listing = await remote.list_containers(ACCOUNT)
    assert [info.name for info in listing.containers] == sorted(["box", *names])
    metas = await asyncio.gather(*(remote.container_meta(ACCOUNT, name) for name in names))
    assert [meta["x-container-meta-n"] for meta in metas] == names
    assert len((await remote.list_objects(ACCOUNT, "box")).objects) == 40


async def test_an_object_round_trip_on_a_remote_catalog(remote: AsyncStore) -> None:
    await remote.create_container(ACCOUNT, "box")
    body = b"0123456789" * 1000
    info = await remote.put_object(ACCOUNT, "box", "obj", chunks(body),
                                   attrs=ObjectAttrs("text/plain", {"x-object-meta-a": "1"}),
                                   checks=WriteChecks(length=len(body)))
    head = await remote.head_object(ACCOUNT, "box", "obj")
    assert (head.etag, head.size, head.meta) == (info.etag, len(body), {"x-object-meta-a": "1"})
    assert b"".join([chunk async for chunk in remote.read(head, 10, 30)]) == body[10:30]
    copy = await remote.copy_object(ACCOUNT, "box", "obj", ACCOUNT, "box", "copy")
    assert copy.etag == info.etag
    upload = await remote.create_upload(ACCOUNT, "box", "parts")
    first = await remote.put_part(ACCOUNT, "box", upload.upload_id, 1, chunks(b"a" * 10))
    second = await remote.put_part(ACCOUNT, "box", upload.upload_id, 2, chunks(b"b" * 10))
    done = await remote.complete_upload(ACCOUNT, "box", upload.upload_id,
                                        [(1, first.etag), (2, second.etag)])
    assert done.size == 20
    assert await remote.remove_object(ACCOUNT, "box", "obj") is True
    assert (await remote.delete(ACCOUNT, "box", "copy")).existed
    with pytest.raises(NoSuchObject):
        await remote.get_object(ACCOUNT, "box", "obj")
    assert [entry.key for entry in (await remote.list_objects(ACCOUNT, "box")).objects] == ["parts"]
    assert await remote.collect_garbage(grace=0) >= 0


def test_closing_a_remote_engine_closes_every_thread_connection(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data", metadata_threads=2)
    store = AsyncStore(engine)

    async def use() -> sqlite3.Connection:
        await store.create_container(ACCOUNT, "box")
        return await engine.offload(lambda: engine._catalog.conn)

    thread_conn = asyncio.run(use())
    engine.close()
    with pytest.raises(sqlite3.ProgrammingError):
        thread_conn.execute("SELECT 1")
