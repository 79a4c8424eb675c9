"""Listings on the PostgreSQL catalog are O(page): the statements the catalog runs for a page of current
objects or of versions read an index in order and stop at the page's end (EXPLAIN, on a table of many
rows with fresh statistics)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from stackbox.sql import PgConnection
from stackbox.storage.engine import Engine
from stackbox.storage.listing import KeyRange
from stackbox.storage.versions import Position

KEYS = 20_000
VERSIONS_PER_KEY = 3
PAGE = 100


@pytest.fixture
def catalog_with_many_rows(tmp_path: Path, postgres_url: str) -> Iterator[Engine]:
    engine = Engine(tmp_path / "data", metadata=postgres_url)
    engine.create_container("AUTH_a", "big")
    engine.create_container("AUTH_a", "other")
    conn = engine._catalog.conn
    # Versions of every key, newest first; the newest is current, every tenth key's is a delete marker.
    conn.execute(
        "INSERT INTO object (container_id, key, version, is_null, latest, marker, size, etag, content_type, "
        "last_modified, attrs) SELECT c.id, 'key/' || lpad(k::text, 6, '0'), lpad(v::text, 32, '0'), 0, "
        "CASE WHEN v = 0 THEN 1 ELSE 0 END, CASE WHEN v = 0 AND k % 10 = 0 THEN 1 ELSE 0 END, 1, 'e', "
        "'t', 0, '\\x7b7d'::bytea FROM container c, generate_series(1, ?) AS k, generate_series(0, ?) AS v",
        (KEYS, VERSIONS_PER_KEY - 1))
    conn.execute("ANALYZE object")
    yield engine
    engine.close()


def plans_of(engine: Engine, read: Callable[[], Iterable[Any]]) -> list[str]:
    """The plan of every statement `read` (a lazy listing, read to its end) runs on the catalog's
    connection."""
    conn = engine._catalog.conn
    assert isinstance(conn, PgConnection)
    statements: list[tuple[str, tuple[Any, ...]]] = []
    execute = conn.execute

    def recording(sql: str, parameters: Any = ()) -> Any:
        statements.append((sql, tuple(parameters)))
        return execute(sql, parameters)

    conn.execute = recording  # type: ignore[method-assign]
    try:
        list(read())
    finally:
        del conn.execute
    assert statements
    return ["\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}", parameters))
            for sql, parameters in statements]


def assert_index_ordered(plan: str, index: str) -> None:
    assert "Seq Scan on object" not in plan, plan
    assert index in plan, plan
    assert "Sort" not in plan.replace("Sort Key", ""), plan  # read in index order, not sorted after


def test_a_page_of_current_objects_reads_the_listing_index(catalog_with_many_rows: Engine) -> None:
    engine = catalog_with_many_rows
    ref = engine._catalog.container_ref("AUTH_a", "big")
    for key_range, reverse in ((KeyRange(), False), (KeyRange("key/012345", False, "key/5"), False),
                               (KeyRange(None, False, "key/015000"), True)):
        page = partial(engine._catalog.objects, ref.id, key_range, reverse, PAGE, 1.0)
        for plan in plans_of(engine, page):
            assert_index_ordered(plan, "object_listed")
    listed = list(engine._catalog.objects(ref.id, KeyRange("key/000100"), False, 5, 1.0))
    assert [entry.key for entry in listed] == ["key/000101", "key/000102", "key/000103", "key/000104",
                                               "key/000105"]


def test_a_page_of_versions_reads_the_version_index(catalog_with_many_rows: Engine) -> None:
    engine = catalog_with_many_rows
    ref = engine._catalog.container_ref("AUTH_a", "big")
    resume = Position("key/010000", "0" * 31 + "1")
    for position in (Position(""), Position("key/005000", None, True), resume):
        page = partial(engine._catalog.versions, ref.id, position, None, PAGE, 1.0)
        for plan in plans_of(engine, page):
            assert_index_ordered(plan, "object_version")
    down = partial(engine._catalog.versions_desc, ref.id, resume, "key/", PAGE, 1.0)
    for plan in plans_of(engine, down):
        assert_index_ordered(plan, "object_version")
    after = [(row.entry.key, row.version) for row in engine._catalog.versions(ref.id, resume, None, 2, 1.0)]
    assert after == [("key/010000", "0" * 31 + "2"), ("key/010001", "0" * 32)]
