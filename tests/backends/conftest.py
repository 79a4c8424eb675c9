"""Throwaway clusters, started only when a test asks for one, once for the whole tests/backends
package, and stopped as soon as its last test has run (not at the end of the session: the rest of
the suite does not need them running, on a machine with two cores).

Without the binaries (and without apt to install them) the tests that need a cluster skip, saying
what is missing; a cluster that is installed but fails to start is an error, not a skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.cluster import CephCluster, PostgresCluster, Unavailable
from topology import cluster_topology, shared_backends

TEST_POOL = "stackbox-test"


@dataclass(frozen=True)
class RadosPool:
    name: str
    conf: Path

    def namespace(self) -> str:
        """A namespace of its own for one test: its listing holds only what that test stored."""
        return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="package")
def ceph_cluster() -> Iterator[CephCluster]:
    pytest.importorskip("rados", reason="python3-rados is not importable from this environment "
                        "(`make test` installs it and links it into the virtual environment)")
    if cluster_topology():  # the session's cluster serves these tests too (one Ceph on two cores)
        yield shared_backends().ceph
        return
    try:
        cluster = CephCluster.start()
    except Unavailable as missing:
        pytest.skip(str(missing))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="package")
def rados_pool(ceph_cluster: CephCluster) -> RadosPool:
    ceph_cluster.create_pool(TEST_POOL)
    ceph_cluster.wait_clean()
    return RadosPool(TEST_POOL, ceph_cluster.conf)


@pytest.fixture(scope="package")
def postgres_cluster(postgres_server: PostgresCluster) -> PostgresCluster:
    """The session's PostgreSQL server (tests/conftest.py), under the name these tests use."""
    return postgres_server
