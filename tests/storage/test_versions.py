"""Objects are versions: the engine's behaviour in unversioned, enabled and suspended containers."""

from __future__ import annotations

import os

import pytest

from stackbox.storage.engine import Engine
from stackbox.storage.types import (
    NULL_VERSION,
    ContainerNotEmpty,
    DeleteMarkerVersion,
    InvalidVersionId,
    NoSuchObject,
    NoSuchVersion,
    ObjectAttrs,
    PreconditionFailed,
    Preconditions,
)
from storage.conftest import ACCOUNT, chunks, read_all

BIG = os.urandom(200_000)


def blob_refs(engine: Engine) -> dict[str, int]:
    return dict(engine._catalog.conn.execute("SELECT id, refs FROM blob").fetchall())


async def test_unversioned_container_keeps_one_unnamed_version(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"one"))
    second = await engine.put_object(ACCOUNT, "box", "k", chunks(b"two"))
    assert second.version_id is None
    listing = engine.list_object_versions(ACCOUNT, "box")
    assert [(v.key, v.version_id, v.latest) for v in listing.versions] == [("k", NULL_VERSION, True)]
    deletion = await engine.delete(ACCOUNT, "box", "k")
    assert (deletion.existed, deletion.version_id, deletion.delete_marker) == (True, None, False)
    assert engine.list_object_versions(ACCOUNT, "box").versions == []
    assert engine.get_container(ACCOUNT, "box").object_count == 0


async def test_enabled_keeps_every_version_newest_first(engine: Engine) -> None:
    before = await engine.put_object(ACCOUNT, "box", "k", chunks(b"null one"))
    engine.set_versioning(ACCOUNT, "box", "enabled")
    first = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
    second = await engine.put_object(ACCOUNT, "box", "k", chunks(b"second"))
    assert before.version_id is None and first.version_id and second.version_id
    assert len({first.version_id, second.version_id, NULL_VERSION}) == 3
    assert engine.head_object(ACCOUNT, "box", "k").version_id == second.version_id
    old = engine.head_object(ACCOUNT, "box", "k", first.version_id)
    assert await read_all(engine, old) == BIG
    assert await read_all(engine, engine.head_object(ACCOUNT, "box", "k", NULL_VERSION)) == b"null one"
    listing = engine.list_object_versions(ACCOUNT, "box")
    assert [(v.version_id, v.latest) for v in listing.versions] == [
        (second.version_id, True), (first.version_id, False), (NULL_VERSION, False)]
    container = engine.get_container(ACCOUNT, "box")
    # Bytes used count every version (as Swift's do), objects only the current ones.
    assert (container.object_count, container.bytes_used, container.versioning) == (
        1, len(b"null one") + len(BIG) + len(b"second"), "enabled")
    assert [entry.key for entry in engine.list_objects(ACCOUNT, "box").objects] == ["k"]


async def test_delete_marker_hides_the_object_and_deleting_it_restores(engine: Engine) -> None:
    engine.set_versioning(ACCOUNT, "box", "enabled")
    kept = await engine.put_object(ACCOUNT, "box", "k", chunks(b"data"))
    deletion = await engine.delete(ACCOUNT, "box", "k")
    assert deletion.existed and deletion.delete_marker and deletion.version_id not in (None, NULL_VERSION)
    with pytest.raises(NoSuchObject) as missing:
        engine.head_object(ACCOUNT, "box", "k")
    assert missing.value.delete_marker and missing.value.version_id == deletion.version_id
    with pytest.raises(DeleteMarkerVersion):
        engine.head_object(ACCOUNT, "box", "k", deletion.version_id)
    assert engine.list_objects(ACCOUNT, "box").objects == []
    assert engine.get_container(ACCOUNT, "box").object_count == 0
    with pytest.raises(ContainerNotEmpty):
        engine.delete_container(ACCOUNT, "box")
    assert deletion.version_id is not None
    undone = await engine.delete(ACCOUNT, "box", "k", version_id=deletion.version_id)
    assert undone.existed and undone.delete_marker
    assert engine.head_object(ACCOUNT, "box", "k").version_id == kept.version_id
    assert engine.get_container(ACCOUNT, "box").object_count == 1


async def test_deleting_the_latest_version_promotes_the_previous_and_frees_blobs(engine: Engine) -> None:
    engine.set_versioning(ACCOUNT, "box", "enabled")
    first = await engine.put_object(ACCOUNT, "box", "k", chunks(b"first"))
    second = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
    assert list(blob_refs(engine).values()) == [1]
    assert second.version_id is not None
    deletion = await engine.delete(ACCOUNT, "box", "k", version_id=second.version_id)
    assert (deletion.existed, deletion.delete_marker) == (True, False)
    assert list(blob_refs(engine).values()) == [0]
    current = engine.head_object(ACCOUNT, "box", "k")
    assert current.version_id == first.version_id and await read_all(engine, current) == b"first"
    assert engine.get_container(ACCOUNT, "box").bytes_used == 5
    missing = await engine.delete(ACCOUNT, "box", "k", version_id=second.version_id)
    assert not missing.existed


async def test_suspended_writes_and_deletes_replace_the_null_version(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
    engine.set_versioning(ACCOUNT, "box", "enabled")
    named = await engine.put_object(ACCOUNT, "box", "k", chunks(b"named"))
    engine.set_versioning(ACCOUNT, "box", "suspended")
    written = await engine.put_object(ACCOUNT, "box", "k", chunks(b"new null"))
    assert written.version_id == NULL_VERSION
    assert [(v.version_id, v.latest) for v in engine.list_object_versions(ACCOUNT, "box").versions] == [
        (NULL_VERSION, True), (named.version_id, False)]
    assert list(blob_refs(engine).values()) == [0]  # the old null version's blob is freed
    deletion = await engine.delete(ACCOUNT, "box", "k")
    assert (deletion.version_id, deletion.delete_marker) == (NULL_VERSION, True)
    versions = engine.list_object_versions(ACCOUNT, "box").versions
    assert [(v.version_id, v.delete_marker) for v in versions] == [(NULL_VERSION, True),
                                                                  (named.version_id, False)]


async def test_preconditions_apply_to_the_current_version(engine: Engine) -> None:
    engine.set_versioning(ACCOUNT, "box", "enabled")
    first = await engine.put_object(ACCOUNT, "box", "k", chunks(b"first"))
    await engine.delete(ACCOUNT, "box", "k")
    with pytest.raises(NoSuchObject):  # under a delete marker there is no current object to match
        await engine.put_object(ACCOUNT, "box", "k", chunks(b"x"), preconditions=Preconditions(
            if_match_etag=first.etag))
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"x"), preconditions=Preconditions(
        if_none_match_star=True))
    with pytest.raises(PreconditionFailed):
        await engine.put_object(ACCOUNT, "box", "k", chunks(b"y"), preconditions=Preconditions(
            if_match_etag=first.etag))


async def test_version_ids_are_checked(engine: Engine) -> None:
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"x"))
    for bad in ("", "NULL", "../x", "0" * 31, "g" * 32):
        with pytest.raises(InvalidVersionId):
            engine.head_object(ACCOUNT, "box", "k", bad)
    with pytest.raises(NoSuchVersion):
        engine.head_object(ACCOUNT, "box", "k", "0" * 32)
    assert engine.head_object(ACCOUNT, "box", "k", NULL_VERSION).size == 1


async def test_copy_and_update_address_a_version(engine: Engine) -> None:
    engine.set_versioning(ACCOUNT, "box", "enabled")
    first = await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"later"))
    assert first.version_id is not None
    copy = engine.copy_object(ACCOUNT, "box", "k", ACCOUNT, "box", "restored",
                              source_version=first.version_id)
    assert await read_all(engine, copy) == BIG
    engine.update_version(ACCOUNT, "box", "k", first.version_id, {"tags": {"old": "yes"}})
    assert engine.head_object(ACCOUNT, "box", "k", first.version_id).tags == {"old": "yes"}
    assert engine.head_object(ACCOUNT, "box", "k").tags == {}


async def test_expiry_applies_to_the_version_it_was_set_on(engine: Engine) -> None:
    engine.set_versioning(ACCOUNT, "box", "enabled")
    first = await engine.put_object(ACCOUNT, "box", "k", chunks(b"keep"))
    await engine.put_object(ACCOUNT, "box", "k", chunks(b"brief"), attrs=ObjectAttrs(delete_at=1000))
    assert engine.reap_expired() == 1
    current = engine.head_object(ACCOUNT, "box", "k")
    assert current.version_id == first.version_id
    assert engine.get_container(ACCOUNT, "box").object_count == 1


async def test_version_listing_pages_with_markers_and_prefixes(engine: Engine) -> None:
    engine.set_versioning(ACCOUNT, "box", "enabled")
    made = []
    for key in ("a", "b", "b", "b", "d/1", "d/2", "e"):
        made.append((key, (await engine.put_object(ACCOUNT, "box", key, chunks(b"x"))).version_id))
    expected = sorted(made, key=lambda item: item[0])
    expected[1:4] = reversed(expected[1:4])  # newest first within "b"
    seen: list[tuple[str, str | None]] = []
    key_marker = version_marker = ""
    while True:
        page = engine.list_object_versions(ACCOUNT, "box", key_marker=key_marker,
                                           version_id_marker=version_marker, limit=2)
        seen += [(v.key, v.version_id) for v in page.versions]
        if not page.truncated:
            break
        key_marker, version_marker = page.next_key_marker or "", page.next_version_id_marker or ""
    assert seen == expected
    rolled = engine.list_object_versions(ACCOUNT, "box", delimiter="/", limit=3)
    assert ([v.key for v in rolled.versions], rolled.prefixes, rolled.truncated) == (
        ["a", "b", "b"], [], True)
    rest = engine.list_object_versions(ACCOUNT, "box", delimiter="/", key_marker="b",
                                       version_id_marker=rolled.next_version_id_marker or "")
    assert ([v.key for v in rest.versions], rest.prefixes) == (["b", "e"], ["d/"])
    prefixed = engine.list_object_versions(ACCOUNT, "box", prefix="d/").versions
    assert [v.key for v in prefixed] == ["d/1", "d/2"]


async def test_deleting_a_container_removes_its_old_versions(engine: Engine) -> None:
    engine.set_versioning(ACCOUNT, "box", "enabled")
    version = (await engine.put_object(ACCOUNT, "box", "k", chunks(BIG))).version_id
    assert version is not None
    with pytest.raises(ContainerNotEmpty):
        engine.delete_container(ACCOUNT, "box")
    await engine.delete(ACCOUNT, "box", "k", version_id=version)
    engine.delete_container(ACCOUNT, "box")
    assert list(blob_refs(engine).values()) == [0]
