from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backends.cluster import PostgresCluster, Unavailable
from cloud import RunningCloud, start_cloud


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """One stackbox server (2 workers) shared by the whole test session."""
    running = start_cloud(Path(tmp_path_factory.mktemp("cloud")) / "data")
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL server for the whole session (skips when PostgreSQL is not installed)."""
    try:
        server = PostgresCluster.start()
    except Unavailable as missing:
        pytest.skip(str(missing))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database of its own for one test, dropped after it."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
