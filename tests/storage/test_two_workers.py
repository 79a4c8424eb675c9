"""Two engines on one catalog (two worker processes, or two nodes on one PostgreSQL) race for the same
limits: the checks made inside the commit's transaction hold across them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackbox.storage.engine import Engine
from stackbox.storage.quotas import ACCOUNT_QUOTA_COUNT, CONTAINER_QUOTA_COUNT
from stackbox.storage.types import PreconditionFailed, Preconditions, QuotaExceeded
from storage.conftest import ACCOUNT, chunks

PUTS = 24
QUOTA = 5


@pytest.fixture
def workers(engine: Engine, tmp_path: Path, metadata: str) -> Iterator[tuple[Engine, Engine]]:
    other = Engine(tmp_path / "data", metadata=metadata)
    yield engine, other
    other.close()


async def test_parallel_puts_against_a_count_quota_store_exactly_the_quota(
        workers: tuple[Engine, Engine]) -> None:
    first, second = workers
    first.update_container_meta(ACCOUNT, "box", {CONTAINER_QUOTA_COUNT: str(QUOTA)})
    results = await asyncio.gather(
        *(workers[i % 2].put_object(ACCOUNT, "box", f"k{i}", chunks(b"x" * 10)) for i in range(PUTS)),
        return_exceptions=True)
    refused = [result for result in results if isinstance(result, BaseException)]
    assert all(isinstance(error, QuotaExceeded) for error in refused), refused
    assert len(results) - len(refused) == QUOTA
    for engine in workers:
        assert engine.get_container(ACCOUNT, "box").object_count == QUOTA
    listing = second.list_objects(ACCOUNT, "box", limit=100)
    assert len(listing.objects) == QUOTA


async def test_parallel_puts_into_two_containers_against_an_account_quota_store_exactly_the_quota(
        workers: tuple[Engine, Engine]) -> None:
    """On PostgreSQL writes to different containers commit side by side, but not those that an
    account quota bounds: it counts the objects of all the account's containers."""
    first, second = workers
    first.create_container(ACCOUNT, "other")
    first.update_account_meta(ACCOUNT, {ACCOUNT_QUOTA_COUNT: str(QUOTA)}, ())
    results = await asyncio.gather(
        *(workers[i % 2].put_object(ACCOUNT, ("box", "other")[i % 2], f"k{i}", chunks(b"x" * 10))
          for i in range(PUTS)), return_exceptions=True)
    refused = [result for result in results if isinstance(result, BaseException)]
    assert all(isinstance(error, QuotaExceeded) for error in refused), refused
    assert len(results) - len(refused) == QUOTA
    assert second.get_account(ACCOUNT).object_count == QUOTA


async def test_one_of_racing_create_only_puts_wins(workers: tuple[Engine, Engine]) -> None:
    create_only = Preconditions(if_none_match_star=True)
    results = await asyncio.gather(
        *(workers[i % 2].put_object(ACCOUNT, "box", "only", chunks(f"writer {i}".encode()),
                                    preconditions=create_only) for i in range(8)),
        return_exceptions=True)
    won = [result for result in results if not isinstance(result, BaseException)]
    assert len(won) == 1
    assert all(isinstance(result, PreconditionFailed) for result in results if result is not won[0])
    assert workers[1].head_object(ACCOUNT, "box", "only").etag == won[0].etag


async def test_a_write_bounded_by_an_account_quota_is_not_confined_to_its_container(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race above is rarely lost even unguarded: what guards it is that such a write's batch
    takes the catalog's write lock exclusively (no scope), which is checked here."""
    scopes: list[object] = []
    run = engine._catalog.batches.run

    async def recording(write: Any, undo: Any = None, *, scope: Any = None, **how: Any) -> Any:
        scopes.append(scope)
        return await run(write, undo, scope=scope, **how)

    monkeypatch.setattr(engine._catalog.batches, "run", recording)
    await engine.put_object(ACCOUNT, "box", "free", chunks(b"x"))
    engine.update_container_meta(ACCOUNT, "box", {CONTAINER_QUOTA_COUNT: "10"})
    await engine.put_object(ACCOUNT, "box", "container quota", chunks(b"x"))
    engine.update_account_meta(ACCOUNT, {ACCOUNT_QUOTA_COUNT: "10"}, ())
    await engine.put_object(ACCOUNT, "box", "account quota", chunks(b"x"))
    await engine.delete(ACCOUNT, "box", "free")
    assert scopes == [(ACCOUNT, "box"), (ACCOUNT, "box"), None, (ACCOUNT, "box")]
