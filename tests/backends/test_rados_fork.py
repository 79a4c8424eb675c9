"""Server workers are forked from a supervisor that may have used RADOS already (start-up recovery):
each worker's connection must still be a client of its own. Two clients with the same address (the
same nonce) make the OSD drop one's connection whenever the other connects, over and over."""

from __future__ import annotations

import os

import pytest

from backends.conftest import RadosPool

pytestmark = pytest.mark.cluster
pytest.importorskip("rados", reason="python3-rados is not importable from this environment")

from stackbox.storage.rados_blobs import RadosBlobs  # noqa: E402


def connect(pool: RadosPool) -> RadosBlobs:
    return RadosBlobs.connect(pool.name, str(pool.conf), op_timeout=10)


def address_of_a_forked_client(pool: RadosPool) -> str:
    """The client address a process forked now gets when it connects."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            backend = connect(pool)
            os.write(writer, backend.cluster.get_addrs().encode())
            backend.close()
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    try:
        with os.fdopen(reader, "rb") as answer:
            address = answer.read().decode()
    finally:
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and address, "the forked process could not connect"
    return address


def test_workers_forked_after_the_supervisor_connected_are_distinct_clients(rados_pool: RadosPool) -> None:
    supervisor = connect(rados_pool)
    try:
        addresses = [supervisor.cluster.get_addrs()]
        addresses += [address_of_a_forked_client(rados_pool) for _ in range(2)]
    finally:
        supervisor.close()
    assert len(set(addresses)) == 3, addresses
