from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from stackbox.storage.engine import EMBEDDED, Engine
from stackbox.storage.types import ObjectInfo

ACCOUNT = "AUTH_test"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test of an engine runs on both catalogs, but those marked `sqlite_only` (they inspect or
    damage the embedded database files themselves)."""
    if "metadata" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("metadata", [EMBEDDED] if sqlite_only else [EMBEDDED, "postgresql"],
                             indirect=True)


@pytest.fixture
def metadata(request: pytest.FixtureRequest) -> str:
    """The engine's `metadata` argument: `sqlite`, or the URL of a fresh PostgreSQL database (the test
    skips, saying why, where PostgreSQL is not installed)."""
    if request.param == EMBEDDED:
        return EMBEDDED
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(tmp_path: Path, metadata: str) -> Iterator[Engine]:
    store = Engine(tmp_path / "data", metadata=metadata)
    store.create_container(ACCOUNT, "box")
    yield store
    store.close()


class Clock:
    """The wall clock the engine reads (`time.time`), moved forward on demand: a test of expiry steps
    past a deadline instead of sleeping until it (a sleep races the machine's load)."""

    def __init__(self) -> None:
        self._real = time.time
        self.offset = 0.0

    def __call__(self) -> float:
        return self._real() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(time, "time", moved)
    return moved


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(engine: Engine, obj: ObjectInfo, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in engine.read(obj, start, end)])
