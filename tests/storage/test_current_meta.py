"""Engine.current_meta: the metadata of a page's current objects, read at once (Swift's symlink
listings use it)."""

from __future__ import annotations

import pytest

from stackbox.storage.engine import Engine
from stackbox.storage.types import NoSuchContainer, ObjectAttrs
from storage.conftest import ACCOUNT, Clock, chunks


async def test_current_meta_reads_live_current_objects_only(engine: Engine, clock: Clock) -> None:
    engine.set_versioning(ACCOUNT, "box", "enabled")
    await engine.put_object(ACCOUNT, "box", "old", chunks(b""), attrs=ObjectAttrs(meta={"sys:v": "1"}))
    await engine.put_object(ACCOUNT, "box", "old", chunks(b""), attrs=ObjectAttrs(meta={"sys:v": "2"}))
    await engine.put_object(ACCOUNT, "box", "gone", chunks(b""), attrs=ObjectAttrs(meta={"sys:v": "3"}))
    await engine.delete(ACCOUNT, "box", "gone")  # a delete marker is current
    await engine.put_object(ACCOUNT, "box", "plain", chunks(b""))
    expired = ObjectAttrs(meta={"sys:v": "4"}, delete_at=int(clock()) + 60)
    await engine.put_object(ACCOUNT, "box", "expiring", chunks(b""), attrs=expired)
    keys = ["old", "gone", "plain", "absent", "expiring"]
    assert engine.current_meta(ACCOUNT, "box", keys) == {
        "old": {"sys:v": "2"}, "plain": {}, "expiring": {"sys:v": "4"}}
    clock.advance(61)
    assert "expiring" not in engine.current_meta(ACCOUNT, "box", keys)


async def test_current_meta_takes_any_number_of_keys(engine: Engine) -> None:
    names = [f"k{i:05d}" for i in range(1200)]
    for name in names[::100]:
        await engine.put_object(ACCOUNT, "box", name, chunks(b""), attrs=ObjectAttrs(meta={"m": name}))
    found = engine.current_meta(ACCOUNT, "box", names)
    assert found == {name: {"m": name} for name in names[::100]}
    with pytest.raises(NoSuchContainer):
        engine.current_meta(ACCOUNT, "nothing-here", names)
