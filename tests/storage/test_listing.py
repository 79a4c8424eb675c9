from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest

from stackbox.storage.engine import Engine
from stackbox.storage.listing import successor
from stackbox.storage.metadata import ContainerRef, NewObject
from stackbox.storage.types import NO_PRECONDITIONS, NoSuchContainer, ObjectAttrs
from storage.conftest import ACCOUNT

KEYS = sorted({
    "a", "a/", "a/b", "a/b/c", "a/c", "a//d", "ab", "b/x", "b/y/z", "c", "é/1", "é/2", "z\u00ff", "zz",
    "\U0001f680/rocket", "\ufb01", "d-1", "d-2", "d/1", "e.txt", "photos/2024/jan.jpg",
    "photos/2024/feb.jpg", "photos/2025/mar.jpg", "photos/index.html", *(f"n/{i:03d}" for i in range(40)),
}, key=lambda key: key.encode())


def fill(engine: Engine, keys: list[str], container: str = "box") -> None:
    """Insert metadata rows directly (fast): listings only read the index."""
    ref = engine._catalog.container_ref(ACCOUNT, container)
    with engine._catalog.write() as conn:
        for key in keys:
            new = NewObject(len(key), "etag", ObjectAttrs(), inline=key.encode())
            engine._catalog.store_object(conn, ContainerRef(ref.id, ACCOUNT, container), key, new,
                                         NO_PRECONDITIONS, 0.0)


def reference(keys: list[str], prefix: str, delimiter: str, marker: str, end_marker: str,
              reverse: bool) -> list[str]:
    """A brute-force listing (entries are keys, or prefixes ending in the delimiter)."""
    ordered = sorted(keys, key=lambda key: key.encode(), reverse=reverse)
    entries: list[str] = []
    for key in ordered:
        if not key.startswith(prefix):
            continue
        if marker and (key >= marker if reverse else key <= marker):
            continue
        if end_marker and (key <= end_marker if reverse else key >= end_marker):
            continue
        found = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key if found < 0 else key[: found + len(delimiter)]
        if entry not in entries and not (found >= 0 and marker and not reverse and entry <= marker):
            entries.append(entry)
    return entries


def page_through(engine: Engine, limit: int, **options: str | bool) -> list[str]:
    entries: list[str] = []
    marker = str(options.pop("marker", ""))
    for _ in range(200):
        page = engine.list_objects(ACCOUNT, "box", marker=marker, limit=limit, **options)  # type: ignore[arg-type]
        merged = sorted([entry.key for entry in page.objects] + page.prefixes,
                        key=lambda key: key.encode(), reverse=bool(options.get("reverse")))
        entries += merged
        assert len(merged) <= limit
        if not page.truncated:
            return entries
        assert page.next_marker == merged[-1]
        marker = page.next_marker
    raise AssertionError("listing did not end")


@pytest.mark.parametrize("limit", [1, 3, 1000])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(("prefix", "delimiter"), [("", ""), ("", "/"), ("a/", "/"), ("photos/", "/"),
                                                   ("n/", ""), ("é", "/"), ("", "-"), ("zz", "/"), ("q", "")])
def test_paged_listing_matches_brute_force(engine: Engine, limit: int, reverse: bool, prefix: str,
                                           delimiter: str) -> None:
    fill(engine, KEYS)
    got = page_through(engine, limit, prefix=prefix, delimiter=delimiter, reverse=reverse)
    assert got == reference(KEYS, prefix, delimiter, "", "", reverse)


@pytest.mark.parametrize("reverse", [False, True])
def test_markers_and_end_markers(engine: Engine, reverse: bool) -> None:
    fill(engine, KEYS)
    rng = random.Random(7)
    for marker, end_marker in itertools.islice(zip(rng.choices(["", *KEYS], k=60),
                                                   rng.choices(["", *KEYS], k=60), strict=True), 60):
        for delimiter in ("", "/"):
            got = page_through(engine, 4, marker=marker, end_marker=end_marker, delimiter=delimiter,
                               reverse=reverse)
            assert got == reference(KEYS, "", delimiter, marker, end_marker, reverse), (marker, end_marker)


def test_delimiter_listing_seeks_past_prefixes(engine: Engine) -> None:
    fill(engine, [f"dir{d}/{i:05d}" for d in range(5) for i in range(2000)] + ["top"])
    calls: list[int] = []
    original = engine._catalog.objects

    def counting(*args: object) -> Iterator[object]:
        for row in original(*args):  # type: ignore[arg-type]
            calls.append(1)
            yield row

    engine._catalog.objects = counting  # type: ignore[method-assign]
    page = engine.list_objects(ACCOUNT, "box", delimiter="/")
    assert page.prefixes == [f"dir{d}/" for d in range(5)] and [o.key for o in page.objects] == ["top"]
    assert sum(calls) < 200, "rows read should not grow with the keys under each prefix"


def test_listing_an_unknown_container(engine: Engine) -> None:
    with pytest.raises(NoSuchContainer):
        engine.list_objects(ACCOUNT, "nobox")


def test_container_listing(engine: Engine) -> None:
    for name in ["b", "a", "logs-1", "logs-2", "z"]:
        engine.create_container(ACCOUNT, name)
    engine.create_container("AUTH_other", "hidden")
    listing = engine.list_containers(ACCOUNT, limit=2)
    assert [c.name for c in listing.containers] == ["a", "b"] and listing.truncated
    rest = engine.list_containers(ACCOUNT, marker=listing.next_marker or "")
    assert [c.name for c in rest.containers] == ["box", "logs-1", "logs-2", "z"] and not rest.truncated
    rolled = engine.list_containers(ACCOUNT, delimiter="-", reverse=True)
    assert ([c.name for c in rolled.containers], rolled.prefixes) == (["z", "box", "b", "a"], ["logs-"])
    bounded = engine.list_containers(ACCOUNT, prefix="logs", end_marker="logs-2")
    assert [c.name for c in bounded.containers] == ["logs-1"]


@pytest.mark.parametrize(("prefix", "expected"), [
    ("a", "b"), ("a/", "a0"), ("\U0010ffff", None), ("a\U0010ffff", "b"), ("\ud7ff", "\ue000"), ("", None)])
def test_successor(prefix: str, expected: str | None) -> None:
    assert successor(prefix) == expected
