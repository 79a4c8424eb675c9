"""Background housekeeping: reap expired objects, apply bucket lifecycle rules, expire stale multipart
uploads, free unreferenced blobs.

Every worker starts the loop; a non-blocking file lock lets only one of them work at a time, so the
work is done once per interval whatever the number of workers, and taken over if that worker dies.
Each step works in small batches so that it never holds the event loop for long.

On a cluster (several nodes on one PostgreSQL) the worker holding its node's file lock also asks for
the cluster's lease (`stackbox.cluster.AdvisoryLease`): one worker in the whole cluster works, and
another node's takes over within about one interval when its node dies. The catalog is then remote,
so the lease and the batches run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from stackbox.lifecycle_pass import DAY, LifecycleSweep

if TYPE_CHECKING:
    from stackbox.cluster import AdvisoryLease
    from stackbox.storage.engine import Engine

log = logging.getLogger("stackbox.maintenance")

INTERVAL = 15.0
BATCH = 200
#: Multipart uploads neither completed nor aborted after this long are aborted.
UPLOAD_LIFETIME = 7 * 24 * 3600.0


LOCK_FILE = "maintenance.lock"


def maintenance_running(data_dir: Path) -> bool:
    """Whether a worker of a server on `data_dir` holds the maintenance lock (one does while it runs)."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (and with it the lock, had it been taken)
    return False


class Maintenance:
    def __init__(self, storage: Engine, data_dir: Path, interval: float = INTERVAL, *,
                 lifecycle_day: int = DAY, cluster_lease: AdvisoryLease | None = None) -> None:
        self._storage = storage
        self._lifecycle = LifecycleSweep(storage, lifecycle_day)
        self._lock_path = data_dir / LOCK_FILE
        self._interval = interval
        self._lock_fd: int | None = None
        self._cluster_lease = cluster_lease

    def _hold_lock(self) -> bool:
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def holds_lease(self) -> bool:
        """Whether this worker is the one (of its node, and of the cluster if any) to work now."""
        if not self._hold_lock():
            return False
        if self._cluster_lease is None:
            return True
        return await asyncio.to_thread(self._cluster_lease.hold)

    async def run_once(self) -> None:
        storage = self._storage  # its calls are offloaded: off the event loop on a remote catalog
        while await storage.offload(storage.reap_expired, limit=BATCH) >= BATCH:
            await asyncio.sleep(0)
        await self._lifecycle.run()
        await storage.offload(storage.expire_uploads, time.time() - UPLOAD_LIFETIME)
        await storage.offload(storage.collect_garbage)

    def close(self) -> None:
        """Give the leases up (another worker or node takes over at its next interval)."""
        if self._cluster_lease is not None:
            self._cluster_lease.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if not await self.holds_lease():
                continue
            try:
                await self.run_once()
            except Exception:
                log.exception("maintenance pass failed; retrying next interval")
