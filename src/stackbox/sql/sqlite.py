"""Opening the embedded SQLite databases the same way everywhere (WAL, busy timeout, autocommit)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


def connect(path: Path | str, *, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A connection in autocommit mode; use `stackbox.sql.transaction()` for atomic writes.

    WAL with synchronous=NORMAL keeps every committed transaction across a kill -9 of the process
    (only a power loss can drop the last ones); pass synchronous="FULL" to survive that too.
    Several worker processes share one database file; the busy timeout serializes their writers.
    """
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SqliteDatabase:
    """One database file. `connection()` is one connection shared by the threads of the process (SQLite
    serializes its use), `connect()` a connection of the caller's own."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, synchronous: str = "NORMAL", named_rows: bool = False) -> None:
        self.path = path
        self.location = str(path)
        self._synchronous = synchronous
        self._named_rows = named_rows
        self._shared: sqlite3.Connection | None = None
        self._guard = threading.Lock()

    def connect(self) -> sqlite3.Connection:
        conn = connect(self.path, synchronous=self._synchronous)
        if self._named_rows:
            conn.row_factory = sqlite3.Row
        return conn

    def connection(self) -> sqlite3.Connection:
        if self._shared is None:
            with self._guard:
                if self._shared is None:
                    self._shared = self.connect()
        return self._shared

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None
