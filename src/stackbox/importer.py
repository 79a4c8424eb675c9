"""`stackbox import --from DATA_DIR`: copy an embedded data dir (SQLite + files) into a scale-out target
(a PostgreSQL database and a RADOS pool), verifying every blob, resumable.

Order, so that an interrupted run leaves nothing half-visible: the blobs first (each written under its
own id, read back and its MD5 compared, then recorded in the target's `import_blob` table: a rerun skips
recorded ones still stored at their length), then the KMS key set (resealed under the cluster's master
key), the identity rows and the catalog rows, each in one transaction. Identity and catalog are copied
only into a target that holds none yet; one that holds exactly the data dir's ids is "already present";
any other is refused.

Not copied: tokens issued by the data dir (its token key is not the cluster's: clients authenticate
again), revoked tokens, and blobs no object references (garbage the data dir had not collected yet).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stackbox.config import Settings
from stackbox.identity.keys import CREDENTIAL_KEY, ensure_shared_keys, load_key, load_shared_keys
from stackbox.identity.service import open_store
from stackbox.maintenance import maintenance_running
from stackbox.migrate import migrate
from stackbox.sql import Connection, Database, open_database, transaction
from stackbox.storage.blob_backend import open_backend
from stackbox.storage.file_blobs import FileBlobs
from stackbox.storage.keys import KeyRecord, KeyService, _decode, _encode
from stackbox.storage.rados_blobs import RadosBlobs, RadosBlobWriter
from stackbox.storage.types import DataUnavailable

#: Identity tables parents first (foreign keys); revoked tokens are not copied (see the docstring).
IDENTITY_TABLES = ("domain", "project", "user", "role", "implied_role", "assignment", "region", "service",
                   "endpoint", "application_credential", "credential", "access_rule", "app_cred_access_rule",
                   "auth_failure")
CATALOG_TABLES = ("account", "container", "object", "blob", "upload", "part")
#: Catalog tables whose integer ids are PostgreSQL identity columns (their sequences follow the copy).
IDENTITY_COLUMNS = ("container", "object")
BATCH = 500
CHUNK = 4 << 20


class ImportRefused(Exception):
    """The import cannot start (or go on); the message is one line saying why."""


@dataclass
class Counts:
    copied: int = 0
    present: int = 0


@dataclass
class ImportReport:
    blobs: Counts = field(default_factory=Counts)
    blob_bytes: int = 0
    identity: Counts = field(default_factory=Counts)
    catalog: Counts = field(default_factory=Counts)
    kms_keys: Counts = field(default_factory=Counts)

    def lines(self) -> list[str]:
        return [f"{name}: {counts.copied} copied, {counts.present} already present"
                for name, counts in (("blobs", self.blobs), ("kms keys", self.kms_keys),
                                     ("identity rows", self.identity), ("catalog rows", self.catalog))]


class Progress:
    """Objects and bytes on stderr: one rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self, total_blobs: int, total_bytes: int, out: TextIO = sys.stderr) -> None:
        self.total_blobs, self.total_bytes = total_blobs, total_bytes
        self.blobs = self.bytes = 0
        self._out = out
        self._tty = out.isatty()
        self._last = 0.0

    def advance(self, size: int) -> None:
        self.blobs += 1
        self.bytes += size
        now = time.monotonic()
        if self.blobs == self.total_blobs or now - self._last >= (0.2 if self._tty else 5.0):
            self._last = now
            self._show()

    def _show(self) -> None:
        share = self.bytes / self.total_bytes if self.total_bytes else 1.0
        bar = "#" * int(share * 30)
        text = (f"[{bar:30}] {self.blobs}/{self.total_blobs} blobs, "
                f"{self.bytes / 1e6:.1f}/{self.total_bytes / 1e6:.1f} MB")
        if self._tty:
            self._out.write(f"\r{text}" + ("\n" if self.blobs == self.total_blobs else ""))
        else:
            self._out.write(text + "\n")
        self._out.flush()


def import_data_dir(source: Path, target: Settings, out: TextIO = sys.stderr) -> ImportReport:
    """Copy the embedded store in `source` into `target` (its metadata URL, blob URL and cluster key)."""
    _check_source(source, target)
    migrate(Settings.from_env(data_dir=str(source), metadata_url="sqlite"))
    migrate(target)
    report = ImportReport()
    meta = sqlite3.connect(source / "meta.db")
    database = open_database(target.metadata_url, pool_size=1)
    try:
        _check_target(source, meta, database)
        _copy_blobs(source, meta, target.blobs_url, database, report, out)
        kms_master = _identity_keys(target)
        _copy_kms_keys(source, database, kms_master, report)
        _copy_identity(source, target, report)
        _copy_catalog(meta, database, report)
    finally:
        meta.close()
        database.close()
    return report


def _check_source(source: Path, target: Settings) -> None:
    if not (source / "meta.db").is_file() or not (source / "identity.db").is_file():
        raise ImportRefused(f"{source} is not a stackbox data dir (no meta.db and identity.db)")
    if target.embedded_metadata or not target.blobs_url.startswith("rados:"):
        raise ImportRefused("the target is a PostgreSQL catalog and a RADOS pool: give --metadata "
                            "postgresql://... and --blobs rados://...")
    if maintenance_running(source) or any(_sqlite_open_elsewhere(source / name)
                                           for name in ("meta.db", "identity.db")):
        raise ImportRefused(f"a stackbox server is running on {source}: stop it first")


#: SQLite's WAL index: every open connection holds a shared lock on this byte of DATABASE-shm (the
#: "DMS" lock, sqlite.org/walformat.html), so an exclusive one is refused while any process has it open.
_SQLITE_DMS_BYTE = 128


def _sqlite_open_elsewhere(database: Path) -> bool:
    try:
        fd = os.open(f"{database}-shm", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SQLITE_DMS_BYTE)
    except OSError:
        return True
    finally:
        os.close(fd)  # also releases the lock (this process has no other descriptor of the file)
    return False


def _check_target(source: Path, meta: sqlite3.Connection, database: Database) -> None:
    """Refuse before copying anything into a target that holds other users or containers."""
    conn = database.connection()
    identity = sqlite3.connect(source / "identity.db")
    try:
        for name, source_ids, target_ids in (
                ("users", _ids(identity, '"user"'), _ids(conn, '"user"')),
                ("containers", _ids(meta, "container"), _ids(conn, "container"))):
            if target_ids:
                _present_or_refuse(target_ids, source_ids, name)
    finally:
        identity.close()


def _ids(conn: Connection | sqlite3.Connection, table: str) -> set[Any]:
    return {row[0] for row in conn.execute(f"SELECT id FROM {table}")}


# Blobs ----------------------------------------------------------------------------------------------


def _copy_blobs(source: Path, meta: sqlite3.Connection, blobs_url: str, database: Database,
                report: ImportReport, out: TextIO) -> None:
    conn = database.connection()
    conn.execute("CREATE TABLE IF NOT EXISTS import_blob (id TEXT PRIMARY KEY, md5 TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT id FROM import_blob")}
    files = FileBlobs(source, fsync=False)
    # The stored length: the catalog's `size` is the plaintext's, shorter than a sealed (SSE) blob.
    wanted = [(blob_id, files.size(blob_id))
              for (blob_id,) in meta.execute("SELECT id FROM blob WHERE refs > 0 ORDER BY id")]
    progress = Progress(len(wanted), sum(size for _, size in wanted), out)
    backend = open_backend(blobs_url, source)
    assert isinstance(backend, RadosBlobs)
    try:
        for blob_id, size in wanted:
            if blob_id in done and _stored_size(backend, blob_id) == size:
                report.blobs.present += 1
            else:
                digest = _copy_blob(files, backend, blob_id, size)
                conn.execute("INSERT INTO import_blob (id, md5) VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                             "SET md5 = excluded.md5", (blob_id, digest))
                report.blobs.copied += 1
                report.blob_bytes += size
            progress.advance(size)
    finally:
        backend.close()
        files.close()


def _stored_size(backend: RadosBlobs, blob_id: str) -> int | None:
    """The length of a blob a previous run recorded (None if it is gone since: it is copied again)."""
    try:
        return backend.size(blob_id)
    except DataUnavailable:
        return None


def _copy_blob(files: FileBlobs, backend: RadosBlobs, blob_id: str, size: int) -> str:
    """Write the blob under its own id, read it back; its MD5 (ImportRefused if the copy differs)."""
    source_md5 = hashlib.md5(usedforsecurity=False)
    writer = RadosBlobWriter(backend, blob_id)
    try:
        for chunk in files.read(blob_id, 0, size, CHUNK):
            source_md5.update(chunk)
            writer.write(chunk)
        writer.commit()
    finally:
        writer.abort()
    copy_md5 = hashlib.md5(usedforsecurity=False)
    for chunk in backend.read(blob_id, 0, size, CHUNK):
        copy_md5.update(chunk)
    if backend.size(blob_id) != size or copy_md5.digest() != source_md5.digest():
        raise ImportRefused(f"blob {blob_id} reads back different from what was written: import stopped")
    return source_md5.hexdigest()


# Keys and identity ---------------------------------------------------------------------------------


def _identity_keys(target: Settings) -> bytes:
    """The cluster's KMS master key (created with the other shared keys if the database has none)."""
    store = open_store(target)
    try:
        with store.exclusive("identity-bootstrap"):
            ensure_shared_keys(store, target.cluster_key_path)
        master = load_shared_keys(store, target.cluster_key_path).kms_master
    finally:
        store.close()
    assert master is not None
    return master


def _copy_kms_keys(source: Path, database: Database, cluster_master: bytes, report: ImportReport) -> None:
    keys_path, master_path = source / "kms" / "keys.json", source / "kms" / "master.key"
    if not keys_path.exists():
        return
    records = _decode(keys_path.read_bytes())
    KeyService(source / "kms", database, master_key=cluster_master)  # creates kms_key_set if need be
    conn = database.connection()
    with transaction(conn):
        row = conn.execute("SELECT document FROM kms_key_set WHERE id = 1").fetchone()
        existing = {} if row is None else _decode(bytes(row[0]))
        if existing.keys() == records.keys():
            report.kms_keys.present += len(records)
            return
        if existing:
            raise ImportRefused("the target database holds other KMS keys than the data dir's: "
                                "import into a database no node has served from")
        old, new = AESGCM(master_path.read_bytes()), AESGCM(cluster_master)
        resealed = {key_id: _reseal(record, old, new) for key_id, record in records.items()}
        conn.execute("INSERT INTO kms_key_set (id, revision, document) VALUES (1, 1, ?)",
                     (_encode(resealed),))
        report.kms_keys.copied += len(records)


def _reseal(record: KeyRecord, old: AESGCM, new: AESGCM) -> KeyRecord:
    versions = []
    for number, sealed in enumerate(record.versions, start=1):
        bound = f"{record.key_id}:{number}".encode()
        try:
            material = old.decrypt(sealed[:12], sealed[12:], bound)
        except InvalidTag:
            raise ImportRefused(f"KMS key {record.key_id} does not open with the data dir's "
                                "kms/master.key") from None
        nonce = os.urandom(12)
        versions.append(nonce + new.encrypt(nonce, material, bound))
    return KeyRecord(record.key_id, record.alias, record.description, record.enabled, record.created,
                     tuple(versions))


def _copy_identity(source: Path, target: Settings, report: ImportReport) -> None:
    source_db = sqlite3.connect(source / "identity.db")
    store = open_store(target)
    try:
        old_key = Fernet(load_key(source, CREDENTIAL_KEY))
        new_key = Fernet(load_shared_keys(store, target.cluster_key_path).credential)
        source_users = {row[0] for row in source_db.execute('SELECT id FROM "user"')}
        conn = store.database.connect()
        with transaction(conn):
            target_users = {row[0] for row in conn.execute('SELECT id FROM "user"')}
            if target_users:
                _present_or_refuse(target_users, source_users, "users")
                report.identity.present += _count(source_db, IDENTITY_TABLES)
                return
            for table in IDENTITY_TABLES:
                cursor = source_db.execute(f"SELECT * FROM {_quoted(table)} ORDER BY rowid")
                names = [column[0] for column in cursor.description]
                rows: Iterable[Sequence[Any]] = cursor
                if table == "credential":
                    rows = _reencrypted(cursor, names.index("encrypted_blob"), old_key, new_key)
                report.identity.copied += _insert(conn, table, names, rows)
    finally:
        conn.close()
        source_db.close()
        store.close()


def _reencrypted(rows: Iterable[Sequence[Any]], column: int, old: Fernet, new: Fernet
                 ) -> Iterable[Sequence[Any]]:
    for row in rows:
        values = list(row)
        try:
            values[column] = new.encrypt(old.decrypt(bytes(values[column])))
        except InvalidToken:
            raise ImportRefused(f"credential {values[0]} does not open with the data dir's "
                                "keys/credential-fernet.key") from None
        yield values


# Catalog ---------------------------------------------------------------------------------------------


def _copy_catalog(meta: sqlite3.Connection, database: Database, report: ImportReport) -> None:
    source_containers = {row[0] for row in meta.execute("SELECT id FROM container")}
    conn = database.connection()
    with transaction(conn):
        target_containers = {row[0] for row in conn.execute("SELECT id FROM container")}
        accounts = conn.execute("SELECT count(*) FROM account").fetchone()[0]
        if target_containers or accounts:
            _present_or_refuse(target_containers, source_containers, "containers")
            report.catalog.present += _count(meta, CATALOG_TABLES)
            return
        for table in CATALOG_TABLES:
            rows = meta.execute(f"SELECT * FROM {table}{_copied_rows(table)}")
            names = [column[0] for column in rows.description]
            report.catalog.copied += _insert(conn, table, names, rows)
        for table in IDENTITY_COLUMNS:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")


# Shared ----------------------------------------------------------------------------------------------


def _insert(conn: Connection, table: str, names: list[str], rows: Iterable[Sequence[Any]]) -> int:
    statement = (f"INSERT INTO {_quoted(table)} ({', '.join(names)}) "
                 f"VALUES ({', '.join('?' for _ in names)})")
    count = 0
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            conn.executemany(statement, batch)
            count, batch = count + len(batch), []
    if batch:
        conn.executemany(statement, batch)
        count += len(batch)
    return count


def _present_or_refuse(target_ids: set[Any], source_ids: set[Any], what: str) -> None:
    if target_ids != source_ids:
        raise ImportRefused(f"the target database already holds other {what} than the data dir's: "
                            "import into an empty (or migrated) database before any node serves from it")


def _copied_rows(table: str) -> str:
    """The WHERE clause of the rows of `table` an import copies (unreferenced blobs are garbage)."""
    return " WHERE refs > 0" if table == "blob" else ""


def _count(conn: sqlite3.Connection, tables: Sequence[str]) -> int:
    return sum(conn.execute(f"SELECT count(*) FROM {_quoted(table)}{_copied_rows(table)}").fetchone()[0]
               for table in tables)


def _quoted(table: str) -> str:
    return '"user"' if table == "user" else table
