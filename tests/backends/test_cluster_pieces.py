"""The pieces of a cluster (stackbox.cluster) against a real PostgreSQL: one node's writes reach another
node's caches within a second, a node's caches are not trusted while its listener cannot vouch for
its connection, and the housekeeping lease is held by one holder at a time and moves when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.cluster import PostgresCluster
from stackbox import cluster
from stackbox.cluster import AdvisoryLease, ClusterNode, Listener, Trust
from stackbox.epoch import EpochCache, SharedCounter

pytestmark = pytest.mark.cluster
psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed (`make test` installs it)")

SRC = Path(__file__).resolve().parents[2] / "src"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not after {timeout} s"
        time.sleep(0.005)
    return time.monotonic() - start


class RunningListener:
    def __init__(self, dsn: str, data_dir: Path) -> None:
        self.listener = Listener(dsn, data_dir)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.listener.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def node_dirs(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "node1", tmp_path / "node2"
    first.mkdir()
    second.mkdir()
    return first, second


@pytest.fixture
def listening(postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path]) -> Iterator[RunningListener]:
    """Node 2's listener, connected and vouching."""
    running = RunningListener(postgres_cluster.dsn, node_dirs[1])
    wait_for(Trust(node_dirs[1] / cluster.TRUST_FILE).holds, "the listener vouches")
    yield running
    running.halt()


def backend_pids(conn: psycopg.Connection, purpose: str) -> list[int]:
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                        (f"stackbox {purpose} %",)).fetchall()
    return [int(row[0]) for row in rows]


def terminate(conn: psycopg.Connection, purpose: str) -> None:
    pids = backend_pids(conn, purpose)
    assert pids, f"no {purpose} connection to terminate"
    for pid in pids:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def admin(postgres_cluster: PostgresCluster) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as conn:
        yield conn


# -- invalidation ------------------------------------------------------------------------------

def test_a_write_on_one_node_empties_the_other_nodes_caches_within_a_second(
        postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path], listening: RunningListener) -> None:
    writer = ClusterNode(postgres_cluster.dsn, node_dirs[0])
    reader = ClusterNode(postgres_cluster.dsn, node_dirs[1])
    try:
        secrets: EpochCache[str, str] = EpochCache(reader.counter("auth"))
        containers: EpochCache[str, str] = EpochCache(reader.counter("meta"))
        secrets.put("AKIA", "secret")
        containers.put("photos", "policy")
        assert secrets.get("AKIA") == "secret"

        writer.counter("auth").bump()
        took = wait_for(lambda: secrets.get("AKIA") is None, "node 2 drops the secret")
        assert took < 1.0
        # Only the identity caches went: the metadata epoch is a counter of its own.
        assert containers.get("photos") == "policy"

        writer.counter("meta").bump()
        assert wait_for(lambda: containers.get("photos") is None, "node 2 drops the metadata") < 1.0
    finally:
        writer.close()
        reader.close()


def test_a_write_returns_once_its_nodes_listener_has_heard_it(
        postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path], listening: RunningListener) -> None:
    """So a client's next request through another node does not race the notification's delivery."""
    writer = ClusterNode(postgres_cluster.dsn, node_dirs[1])
    heard = SharedCounter(node_dirs[1] / cluster.COUNTER_FILES["meta"])
    try:
        for _ in range(20):
            bumped = writer.counter("meta").bump()
            assert heard.value() > bumped
    finally:
        writer.close()


def test_the_writing_node_sees_its_own_write_at_once(postgres_cluster: PostgresCluster,
                                                      node_dirs: tuple[Path, Path]) -> None:
    """Two workers of one node (no listener needed: the node's counter is shared memory)."""
    node = ClusterNode(postgres_cluster.dsn, node_dirs[0])
    node.trust.extend()
    try:
        worker_a: EpochCache[str, str] = EpochCache(node.counter("auth"))
        worker_a.put("token", "valid")
        node.counter("auth").bump()
        assert worker_a.get("token") is None
    finally:
        node.close()


def test_an_unknown_kind_empties_every_cache(postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path],
                                            listening: RunningListener) -> None:
    counters = {kind: SharedCounter(node_dirs[1] / name) for kind, name in cluster.COUNTER_FILES.items()}
    before = {kind: counter.value() for kind, counter in counters.items()}
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as conn:
        conn.execute(cluster.NOTIFY_SQL, (cluster.CHANNEL, "from-a-newer-release"))
    wait_for(lambda: all(counters[kind].value() > before[kind] for kind in counters), "every counter moves")


def test_a_notification_is_sent_only_if_its_transaction_commits(
        postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path], listening: RunningListener) -> None:
    counter = SharedCounter(node_dirs[1] / cluster.COUNTER_FILES["auth"])
    with psycopg.connect(postgres_cluster.dsn) as conn:
        conn.execute(cluster.NOTIFY_SQL, (cluster.CHANNEL, "auth"))
        before = counter.value()
        conn.rollback()
        # A committed one afterwards arrives; the rolled-back one never did.
        conn.execute(cluster.NOTIFY_SQL, (cluster.CHANNEL, "meta"))
        conn.commit()
    meta = SharedCounter(node_dirs[1] / cluster.COUNTER_FILES["meta"])
    wait_for(lambda: meta.value() > 0, "the committed notification arrives")
    assert counter.value() == before


def test_an_identity_write_announces_itself_only_if_it_commits(
        postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path], listening: RunningListener) -> None:
    from stackbox.identity.store import Store

    writer = ClusterNode(postgres_cluster.dsn, node_dirs[0])
    counter = writer.counter("auth")
    store = Store.open(postgres_cluster.dsn, counter.bump_local, announce=counter.announce)
    heard = SharedCounter(node_dirs[1] / cluster.COUNTER_FILES["auth"])
    try:
        before = heard.value()
        with pytest.raises(RuntimeError), store.write() as conn:
            conn.execute("SELECT 1")
            raise RuntimeError("the write fails")
        with store.write() as conn:
            conn.execute("SELECT 1")
        wait_for(lambda: heard.value() > before, "node 2 hears of the committed write")
        assert heard.value() == before + 1, "node 2 heard of the failed write too"
    finally:
        store.close()
        writer.close()


def test_an_identity_write_returns_once_its_nodes_listener_has_heard_it(
        postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path], listening: RunningListener) -> None:
    from stackbox.identity.store import Store

    writer = ClusterNode(postgres_cluster.dsn, node_dirs[1])
    counter = writer.counter("auth")
    store = Store.open(postgres_cluster.dsn, counter.bump_local, announce=counter.announce)
    heard = SharedCounter(node_dirs[1] / cluster.COUNTER_FILES["auth"])
    try:
        for _ in range(20):
            before = heard.value()
            with store.write() as conn:
                conn.execute("SELECT 1")
            assert heard.value() >= before + 2, "the writer's own bump and its listener's"
    finally:
        store.close()
        writer.close()


def test_a_metadata_write_tells_the_other_nodes_within_its_own_transaction(
        postgres_url: str, node_dirs: tuple[Path, Path]) -> None:
    """Not by a notification sent after the commit, which a node that dies (or loses its connection)
    in between never sends: here the writer could not send one at all."""
    from stackbox.storage.engine import Engine

    listening = RunningListener(postgres_url, node_dirs[1])
    heard = SharedCounter(node_dirs[1] / cluster.COUNTER_FILES["meta"])
    unreachable = f"postgresql://stackbox:x@127.0.0.1:{_closed_port()}/postgres"
    counter = cluster.ClusterCounter(node_dirs[0] / cluster.COUNTER_FILES["meta"], "meta",
                                     Trust(node_dirs[0] / cluster.TRUST_FILE), cluster.Publisher(unreachable))
    engine = Engine(node_dirs[0], metadata=postgres_url, meta_epoch=counter)
    try:
        wait_for(Trust(node_dirs[1] / cluster.TRUST_FILE).holds, "the listener vouches")
        before = heard.value()
        engine.create_container("AUTH_a", "box")
        engine.update_container_meta("AUTH_a", "box", {"color": "blue"})
        engine.delete_container("AUTH_a", "box")
        wait_for(lambda: heard.value() >= before + 3, "node 2 hears of the three writes")
    finally:
        engine.close()
        listening.halt()


def test_caches_are_not_trusted_without_a_listener(postgres_cluster: PostgresCluster,
                                                   node_dirs: tuple[Path, Path]) -> None:
    node = ClusterNode(postgres_cluster.dsn, node_dirs[1])
    try:
        cache: EpochCache[str, str] = EpochCache(node.counter("auth"))
        cache.put("AKIA", "secret")
        assert cache.get("AKIA") is None
        node.trust.extend()
        cache.put("AKIA", "secret")
        assert cache.get("AKIA") == "secret"
        # A listener that stopped vouching (killed, stuck) stops being trusted within TRUST_SECONDS.
        assert wait_for(lambda: cache.get("AKIA") is None, "trust lapses") <= cluster.TRUST_SECONDS + 0.1
        cache.put("AKIA", "secret")
        assert cache.get("AKIA") is None
    finally:
        node.close()


def test_a_trust_time_from_an_earlier_boot_is_no_trust(tmp_path: Path) -> None:
    trust = Trust(tmp_path / cluster.TRUST_FILE)
    assert not trust.holds()
    import mmap
    import struct
    with open(tmp_path / cluster.TRUST_FILE, "r+b") as file, mmap.mmap(file.fileno(), 8) as view:
        struct.pack_into("<d", view, 0, time.monotonic() + 3600)
    assert not trust.holds()
    trust.extend()
    assert trust.holds()
    trust.revoke()
    assert not trust.holds()


def test_a_lost_listener_connection_is_not_trusted_and_recovers(
        postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path], listening: RunningListener,
        admin: psycopg.Connection) -> None:
    writer = ClusterNode(postgres_cluster.dsn, node_dirs[0])
    reader = ClusterNode(postgres_cluster.dsn, node_dirs[1])
    trust = Trust(node_dirs[1] / cluster.TRUST_FILE)
    raw = SharedCounter(node_dirs[1] / cluster.COUNTER_FILES["auth"])
    connected = raw.value()
    writer.counter("auth").bump()  # the writer's connection is made before logins are refused
    wait_for(lambda: raw.value() > connected, "the first notification arrives")
    cache: EpochCache[str, str] = EpochCache(reader.counter("auth"))
    cache.put("AKIA", "secret")
    assert cache.get("AKIA") == "secret"
    before = raw.value()
    # Sessions already open stay; the listener cannot come back until logins are allowed again.
    admin.execute("ALTER ROLE stackbox NOLOGIN")
    try:
        terminate(admin, "listener")
        assert wait_for(lambda: not trust.holds(), "the loss is noticed") < cluster.TRUST_SECONDS
        assert cache.get("AKIA") is None
        # A write while node 2 is not listening: its notification is lost.
        writer.counter("auth").bump()
        time.sleep(cluster.RECONNECT_SECONDS * 2)  # the listener tries again meanwhile, and fails
        assert raw.value() == before
        cache.put("AKIA", "stale secret")
        assert cache.get("AKIA") is None, "a cache served while its node was not listening"
    finally:
        admin.execute("ALTER ROLE stackbox LOGIN")
    wait_for(lambda: listening.listener.connections > 1 and trust.holds(), "the listener is back")
    # Its reconnection bump covers the notification it missed.
    assert raw.value() > before
    assert cache.get("AKIA") is None
    cache.put("AKIA", "new secret")
    assert cache.get("AKIA") == "new secret"
    writer.close()
    reader.close()


def test_caches_stay_bypassed_while_the_database_is_unreachable(
        postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path]) -> None:
    # A listener whose database does not answer: its node's caches never serve.
    unreachable = f"postgresql://stackbox:x@127.0.0.1:{_closed_port()}/postgres"
    running = RunningListener(unreachable, node_dirs[1])
    node = ClusterNode(unreachable, node_dirs[1])
    try:
        cache: EpochCache[str, str] = EpochCache(node.counter("meta"))
        deadline = time.monotonic() + 2 * cluster.RECONNECT_SECONDS + 0.5
        while time.monotonic() < deadline:
            cache.put("photos", "policy")
            assert cache.get("photos") is None
            time.sleep(0.05)
        assert running.listener.connections == 0
    finally:
        running.halt()


def _closed_port() -> int:
    from backends.cluster import free_port
    return free_port()


def test_a_publisher_whose_connection_was_cut_reconnects(
        postgres_cluster: PostgresCluster, node_dirs: tuple[Path, Path], listening: RunningListener,
        admin: psycopg.Connection) -> None:
    writer = ClusterNode(postgres_cluster.dsn, node_dirs[0])
    counter = SharedCounter(node_dirs[1] / cluster.COUNTER_FILES["auth"])
    try:
        first = counter.value()
        writer.counter("auth").bump()
        wait_for(lambda: counter.value() > first, "the first notification arrives")
        terminate(admin, "publisher")
        seen = counter.value()
        writer.counter("auth").bump()
        wait_for(lambda: counter.value() > seen, "the notification after the cut arrives")
    finally:
        writer.close()


# -- the housekeeping lease --------------------------------------------------------------------

def test_one_holder_at_a_time_and_it_keeps_it(postgres_cluster: PostgresCluster) -> None:
    first, second = AdvisoryLease(postgres_cluster.dsn), AdvisoryLease(postgres_cluster.dsn)
    try:
        assert first.hold()
        assert not second.hold()
        assert first.hold()
        assert not second.hold()
        first.close()  # the server frees the lock as the session ends, a moment later
        wait_for(second.hold, "the lease is free once its holder gave it up")
        assert not first.hold()
    finally:
        first.close()
        second.close()


def test_the_lease_moves_when_its_connection_is_cut(postgres_cluster: PostgresCluster,
                                                    admin: psycopg.Connection) -> None:
    first, second = AdvisoryLease(postgres_cluster.dsn), AdvisoryLease(postgres_cluster.dsn)
    try:
        assert first.hold()
        assert len(backend_pids(admin, "housekeeping")) == 1
        terminate(admin, "housekeeping")
        assert not first.hold()  # it notices the loss
        wait_for(second.hold, "the second holder takes the lease")
        assert not first.hold()
    finally:
        first.close()
        second.close()


def test_the_lease_moves_when_its_holder_is_killed(postgres_cluster: PostgresCluster) -> None:
    script = ("import sys, time\n"
              "from stackbox.cluster import AdvisoryLease\n"
              "lease = AdvisoryLease(sys.argv[1])\n"
              "print(lease.hold(), flush=True)\n"
              "time.sleep(600)\n")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    holder = subprocess.Popen([sys.executable, "-c", script, postgres_cluster.dsn], env=env,
                              stdout=subprocess.PIPE, text=True)
    other = AdvisoryLease(postgres_cluster.dsn)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        assert not other.hold()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert wait_for(other.hold, "the lease is free once its holder died") < 5
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        other.close()


def test_an_unreachable_database_holds_no_lease() -> None:
    lease = AdvisoryLease(f"postgresql://stackbox:x@127.0.0.1:{_closed_port()}/postgres")
    assert not lease.hold()
    lease.close()
