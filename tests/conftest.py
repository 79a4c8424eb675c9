from __future__ import annotations

import asyncio
import inspect
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backends.cluster import PostgresCluster, Unavailable
from cloud import RunningCloud, start_cloud
from topology import cluster_topology, shared_backends, stop_shared_backends


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the cluster topology, tests marked `single_node(reason)` skip, saying why."""
    if not cluster_topology():
        return
    for item in items:
        marker = item.get_closest_marker("single_node")
        if marker is not None:
            reason = marker.args[0] if marker.args else "needs one embedded node"
            item.add_marker(pytest.mark.skip(reason=f"single node only: {reason}"))


@pytest.fixture(scope="session", autouse=True)
def _shared_backends() -> Iterator[None]:
    """The cluster topology's PostgreSQL and Ceph (started by the first cloud) stop after the last cloud."""
    yield
    stop_shared_backends()


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """One stackbox server (2 workers) shared by the whole test session."""
    running = start_cloud(Path(tmp_path_factory.mktemp("cloud")) / "data")
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL server for the whole session (skips when PostgreSQL is not installed);
    in the cluster topology, the one the test clouds share."""
    if cluster_topology():
        yield shared_backends().postgres
        return
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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests in a fresh event loop (no asyncio plugin is installed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
