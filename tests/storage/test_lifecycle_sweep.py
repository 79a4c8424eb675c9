"""The lifecycle sweep on the engine: bounded work per pass, resumed where it stopped, and locked
versions kept."""

from __future__ import annotations

import pytest

from stackbox import lifecycle_pass
from stackbox.lifecycle_pass import WINDOW_COST, LifecycleSweep
from stackbox.storage.engine import Engine
from stackbox.storage.lifecycle import LIFECYCLE_META, Filter, Rule, encode_rules
from stackbox.storage.types import ObjectInfo
from storage.conftest import ACCOUNT, chunks

#: Expired since 1970: every current version it covers is due at once.
LONG_AGO = Rule("old", True, Filter(), expiration_epoch=0.0)


async def fill(engine: Engine, count: int) -> None:
    for n in range(count):
        await engine.put_object(ACCOUNT, "box", f"k{n:04d}", chunks(b"x"))


def live(engine: Engine) -> int:
    return len(engine.list_objects(ACCOUNT, "box", limit=10_000).objects)


async def test_a_pass_examines_at_most_its_budget(engine: Engine) -> None:
    await fill(engine, 450)
    engine.update_container_meta(ACCOUNT, "box", {LIFECYCLE_META: encode_rules([LONG_AGO])})
    sweep = LifecycleSweep(engine, day=1)
    await sweep.run(budget=WINDOW_COST + 200)
    assert live(engine) == 250
    await sweep.run(budget=200)
    assert live(engine) == 50
    await sweep.run(budget=200)
    assert live(engine) == 0


async def test_disabled_and_unmatched_rules_leave_objects(engine: Engine) -> None:
    await fill(engine, 3)
    rules = [Rule("off", False, Filter()), Rule("elsewhere", True, Filter(prefix="z"), expiration_epoch=0.0)]
    engine.update_container_meta(ACCOUNT, "box", {LIFECYCLE_META: encode_rules(rules)})
    await LifecycleSweep(engine, day=1).run()
    assert live(engine) == 3


async def test_locked_versions_are_not_deleted(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    await fill(engine, 2)
    engine.update_container_meta(ACCOUNT, "box", {LIFECYCLE_META: encode_rules([LONG_AGO])})

    def locked(version: ObjectInfo) -> bool:
        return version.key == "k0000"

    monkeypatch.setattr(lifecycle_pass, "is_locked", locked)
    await LifecycleSweep(engine, day=1).run()
    assert [entry.key for entry in engine.list_objects(ACCOUNT, "box").objects] == ["k0000"]


async def test_an_object_rewritten_after_the_scan_is_kept(engine: Engine) -> None:
    await fill(engine, 1)
    engine.update_container_meta(ACCOUNT, "box", {LIFECYCLE_META: encode_rules([LONG_AGO])})
    ((ref, _),), _ = engine.lifecycle_buckets(0, 1000)
    (scanned,) = engine.lifecycle_versions(ref, None, 10)
    await engine.put_object(ACCOUNT, "box", "k0000", chunks(b"new"))
    assert not await engine.expire_current_version(ref, "k0000", scanned.version, lifecycle_pass.is_locked)
    assert engine.head_object(ACCOUNT, "box", "k0000").size == 3
