"""Many nodes on one PostgreSQL: per-worker caches stay correct everywhere, housekeeping runs once.

Caches. Each worker keeps what it looks up on hot paths behind two epoch counters (`stackbox.epoch`,
one memory map per node): `auth` (EC2 secrets, validated tokens, catalogs) and `meta` (container and
account metadata: lifecycle rules, bucket policy, ACLs, CORS, encryption and versioning settings,
quotas; Object Lock configurations). A write bumps its node's counter, which that node's workers see
at once, and sends `NOTIFY stackbox_epoch, '<kind>'` inside its transaction (`announce`: delivered if
and only if the write commits; identity writes and the catalog's `meta_write`s), or else right after
its commit (`bump`, on the worker's publisher connection). The writer answers once its own node's
listener has heard the notification, which PostgreSQL handed every node's listener at once, so the
client's next request through another node does not race its delivery. One listener per node (a
process the supervisor keeps running) LISTENs on a connection of its own and bumps the node's counter
of each kind it is told about.

A notification sent while the listener is not connected is lost, so the caches are trusted only
while the listener vouches for its connection: after each round trip it sets a "trusted until" time,
shared by the node's workers, TRUST_SECONDS ahead. While the listener is disconnected, dead or stuck
that time passes and the counters read as a value never seen before: every lookup misses and nothing
is kept. On every (re)connection the listener LISTENs, then bumps every counter (what was cached
before may have changed unseen), then trusts again.

What other caches a worker keeps, and why they need none of this:
- `Engine._known_containers` (container name -> ref, on the PUT path): a stale entry is harmless, the
  commit resolves the container by name again (the engine documents it).
- lru_caches keyed by content (`s3.policy.compiled`, `s3.grants.stored_grants`, lifecycle and CORS rule
  decoding, `identity.access_rules._compiled`, `s3.policy_conditions._address`): the key is the stored
  text itself, so a change on another node is a different key.
- SigV4 signing keys (`s3.signature.keys`): keyed by the secret, which comes from the `auth` cache.
- KMS keys (`storage.keys.KeyService`): on SQLite reread when keys.json changes; on PostgreSQL the
  key set lives in the database (`kms_key_set`) and every use compares its revision, so a key made or
  disabled through any node counts at once on every node (the master key is in the database too).
- The S3 versioning state (`Engine.set_versioning`): read from the catalog on every use, not cached.

Housekeeping. `AdvisoryLease` is a session-level `pg_try_advisory_lock` held by a dedicated
connection: one worker in the whole cluster holds it (the node's flock first picks one worker per
node, so only those ask). When its node dies the connection drops and the server frees the lock;
the server's TCP keepalives are shortened on that session so that a node that vanished without
closing its sockets loses the lease within LEASE_KEEPALIVE_SECONDS.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import struct
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackbox.epoch import SharedCounter, map_shared

if TYPE_CHECKING:
    import psycopg

    from stackbox.config import Settings
    from stackbox.sql import Connection

log = logging.getLogger("stackbox.cluster")

CHANNEL = "stackbox_epoch"
NOTIFY_SQL = "SELECT pg_notify(%s, %s)"
#: The same through `stackbox.sql` (its statements are written with SQLite's placeholders).
ANNOUNCE_SQL = "SELECT pg_notify(?, ?)"
#: The node's counters by the kind a notification names, and their files in the data dir.
COUNTER_FILES = {"auth": "auth-epoch", "meta": "container-epoch"}
TRUST_FILE = "cluster-trust"
#: How long the node's workers trust their caches after the listener's last round trip.
TRUST_SECONDS = 1.0
#: How often the listener makes that round trip (well inside TRUST_SECONDS).
PING_SECONDS = 0.2
#: How often a writer looks whether its node's listener has heard its notification yet.
ECHO_POLL_SECONDS = 0.0005
#: Wait between two connection attempts of the listener.
RECONNECT_SECONDS = 0.5
#: Bound on a connection attempt and on a silent connection (libpq's tcp_user_timeout).
CONNECT_TIMEOUT_SECONDS = 5
#: The name of housekeeping's advisory lock (`sql.postgres.lock_key` makes the key).
LEASE_NAME = "stackbox:housekeeping"
#: The server drops a lease holder that stopped answering TCP keepalives within about this long.
LEASE_KEEPALIVE_SECONDS = 11
_KEEPALIVE_SETTINGS = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}

_TRUST_FORMAT = "<d"
_TRUST_SIZE = struct.calcsize(_TRUST_FORMAT)


def is_clustered(settings: Settings) -> bool:
    return settings.metadata_url.startswith(("postgresql://", "postgres://"))


def connect(dsn: str, purpose: str) -> psycopg.Connection[Any]:
    """An autocommit connection for `purpose` (its application_name, with the process id), bounded in how
    long it may wait on an unresponsive server."""
    import psycopg

    return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                           application_name=f"stackbox {purpose} {os.getpid()}", keepalives=1,
                           keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
                           tcp_user_timeout=CONNECT_TIMEOUT_SECONDS * 1000)


class Trust:
    """Until when (CLOCK_MONOTONIC, shared by the processes of one machine) the node's listener vouches
    that no notification was missed. A time further ahead than TRUST_SECONDS (left by an earlier boot)
    is no vouching either."""

    def __init__(self, path: Path) -> None:
        self._map = map_shared(path, _TRUST_SIZE)

    def holds(self) -> bool:
        ahead = struct.unpack_from(_TRUST_FORMAT, self._map, 0)[0] - time.monotonic()
        return 0.0 < ahead <= TRUST_SECONDS

    def extend(self) -> None:
        struct.pack_into(_TRUST_FORMAT, self._map, 0, time.monotonic() + TRUST_SECONDS)

    def revoke(self) -> None:
        struct.pack_into(_TRUST_FORMAT, self._map, 0, 0.0)


class Publisher:
    """Tells the other nodes about one worker's writes, on a connection of its own (made when first
    needed, made again once if it broke)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def publish(self, kind: str) -> None:
        import psycopg

        with self._lock:
            for attempt in range(2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = connect(self._dsn, "publisher")
                    self._conn.execute(NOTIFY_SQL, (CHANNEL, kind))
                    return
                except psycopg.OperationalError:
                    self._drop()
                    if attempt:
                        raise

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


class ClusterCounter(SharedCounter):
    """A node's epoch counter in a cluster: `bump` also tells every other node, and while the node's
    listener does not vouch for its connection `value` is a value never seen before (negative, unique
    in the process), so that every cache misses and keeps nothing."""

    def __init__(self, path: Path, kind: str, trust: Trust, publisher: Publisher) -> None:
        super().__init__(path)
        self.kind = kind
        self._trust = trust
        self._publisher = publisher
        self._never_seen = itertools.count(-1, -1)
        #: The counter's value when this thread's write announced itself (see `bump_local`).
        self._announced = threading.local()

    def value(self) -> int:
        if self._trust.holds():
            return self._load()
        return next(self._never_seen)

    def bump(self) -> int:
        """After a write committed: bump here and return once this node's listener has heard of the
        write (see `_await_echo`). Other nodes hear of it from the write's own transaction if it
        announced itself in this thread (`announce`), else from a notification sent now."""
        if getattr(self._announced, "value", None) is not None:
            return self.bump_local()
        new = super().bump()
        self._publisher.publish(self.kind)
        self._await_echo(new)
        return new

    def _await_echo(self, bumped: int) -> None:
        """Wait (a few milliseconds) until the node's listener bumps the counter past `bumped`, as it
        does when it hears this write's notification. PostgreSQL hands a notification to every
        listening session at the same commit, so the other nodes' listeners were handed it as ours
        was: the client is answered after that, and its next request through another node no longer
        races the notification's delivery (only that node's listener bumping its counter). Without a
        vouching listener there is nothing to wait for, another bump may end the wait early, and the
        trust period bounds it."""
        deadline = time.monotonic() + TRUST_SECONDS
        while self._trust.holds() and self._load() <= bumped and time.monotonic() < deadline:
            time.sleep(ECHO_POLL_SECONDS)

    def bump_local(self) -> int:
        """After a write whose transaction announced itself (`announce`), in the same thread: bump
        here and return once the listener has heard the announcement too (it may have already: then
        the counter is two past its value at the announcement)."""
        new = super().bump()
        before = getattr(self._announced, "value", None)
        self._announced.value = None
        if before is not None:
            self._await_echo(before + 1)
        return new

    def announce(self, conn: Connection) -> None:
        """Within a write's transaction on the shared database: the notification is delivered if and
        only if the write commits, and costs no round trip of its own."""
        self._announced.value = self._load()
        conn.execute(ANNOUNCE_SQL, (CHANNEL, self.kind))


class ClusterNode:
    """What one worker of a clustered node shares between its caches and its housekeeping."""

    def __init__(self, dsn: str, data_dir: Path) -> None:
        self.dsn = dsn
        self.data_dir = data_dir
        self.trust = Trust(data_dir / TRUST_FILE)
        self.publisher = Publisher(dsn)

    @classmethod
    def for_settings(cls, settings: Settings) -> ClusterNode | None:
        return cls(settings.metadata_url, settings.data_dir) if is_clustered(settings) else None

    def counter(self, kind: str) -> ClusterCounter:
        return ClusterCounter(self.data_dir / COUNTER_FILES[kind], kind, self.trust, self.publisher)

    def lease(self) -> AdvisoryLease:
        return AdvisoryLease(self.dsn)

    def close(self) -> None:
        self.publisher.close()


class Listener:
    """The node's listener: bumps the node's counters on every notification, and vouches for its
    connection (`Trust`) after every round trip."""

    def __init__(self, dsn: str, data_dir: Path) -> None:
        self._dsn = dsn
        self._counters: Mapping[str, SharedCounter] = {
            kind: SharedCounter(data_dir / name) for kind, name in COUNTER_FILES.items()}
        self._trust = Trust(data_dir / TRUST_FILE)
        self.connections = 0

    def run(self, stop: threading.Event) -> None:
        import psycopg

        self._trust.revoke()
        while not stop.is_set():
            try:
                self._listen(stop)
            except psycopg.Error as error:
                log.warning("cache invalidation listener disconnected (%s); caches bypassed until it is "
                            "back", type(error).__name__)
            self._trust.revoke()
            stop.wait(RECONNECT_SECONDS)
        self._trust.revoke()

    def _listen(self, stop: threading.Event) -> None:
        with connect(self._dsn, "listener") as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            # Whatever was written while nobody listened here may be cached: start afresh.
            self._bump(None)
            self.connections += 1
            while not stop.is_set():
                conn.execute("SELECT 1")
                self._trust.extend()
                for note in conn.notifies(timeout=PING_SECONDS):
                    self._bump(note.payload)

    def _bump(self, kind: str | None) -> None:
        """The counter of `kind`; every counter for None or a kind this release does not know."""
        counter = self._counters.get(kind or "")
        for target in [counter] if counter is not None else self._counters.values():
            target.bump()


def run_listener(settings: Settings) -> None:
    """The body of the node's listener process (until it is signalled)."""
    Listener(settings.metadata_url, settings.data_dir).run(threading.Event())


def prepare_node(settings: Settings) -> None:
    """Before the workers start: their caches are not trusted until the listener has connected."""
    if is_clustered(settings):
        Trust(settings.data_dir / TRUST_FILE).revoke()


class AdvisoryLease:
    """Housekeeping's lease on the cluster: a session-level advisory lock on a connection of its own.
    `hold` blocks (a round trip or a connection): call it off the event loop."""

    def __init__(self, dsn: str, name: str = LEASE_NAME) -> None:
        from stackbox.sql.postgres import lock_key

        self._dsn = dsn
        self._key = lock_key(name)
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False

    def hold(self) -> bool:
        """Whether this process holds the lease (it takes it when free); False when the database
        cannot be reached. A lease lost with its connection is asked for again on a new one."""
        import psycopg

        try:
            conn = self._connection()
            if self._held:
                conn.execute("SELECT 1")  # the session, and so its lock, is still there
            else:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
                self._held = bool(row and row[0])
        except psycopg.Error as error:
            if self._held:
                log.warning("housekeeping lease lost with its connection (%s)", type(error).__name__)
            self.close()
            return False
        return self._held

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._held = False
            self._conn = connect(self._dsn, "housekeeping")
            for name, value in _KEEPALIVE_SETTINGS.items():
                self._conn.execute(f"SET {name} = {int(value)}")
        return self._conn

    def close(self) -> None:
        """Give the lease up (closing the session frees the lock)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        self._held = False
