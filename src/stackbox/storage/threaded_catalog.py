"""The SQLite catalog called from several threads: what `Engine(metadata_threads=N)` uses.

A catalog on a network database runs its calls on a pool of threads (`Engine.offload`). To exercise
that path without one, the SQLite catalog can run there too; but a SQLite connection holds at most
one transaction, so two threads sharing it would run inside each other's transactions. Here each
thread gets a connection of its own, opened on its first call (SQLite's file locks and busy timeout
serialize their writes, as they do between worker processes).
"""

from __future__ import annotations

import threading
from pathlib import Path

from stackbox.sql import Connection, connect
from stackbox.storage.metadata import Catalog


class ThreadedCatalog(Catalog):
    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self._path = path
        self._synchronous = "FULL" if durable else "NORMAL"
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()
        super().__init__(path, durable=durable)

    @property
    def conn(self) -> Connection:
        """This thread's connection."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.conn = connect(self._path, synchronous=self._synchronous)
        return conn

    @conn.setter
    def conn(self, conn: Connection) -> None:
        self._local.conn = conn
        with self._opened_lock:
            self._opened.append(conn)

    def close(self) -> None:
        """Only once no thread uses the catalog any more (the engine shuts its threads down first)."""
        self.batches.close()
        with self._opened_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
