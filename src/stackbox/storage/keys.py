"""stackbox's own small key service: the key-encryption keys of SSE-S3 and SSE-KMS.

    DATA_DIR/kms/master.key   32 random bytes (0600): encrypts every key's material (on PostgreSQL the
                              master key is the nodes' shared one instead, see identity/keys.py)
    DATA_DIR/kms/keys.json    the keys (0600): id, alias, state, versions of encrypted material

A key has versions: `rotate` adds one, new data keys are wrapped by the newest, and a wrapped data key
names the version that wrapped it, so objects written before a rotation stay readable. A disabled key
neither wraps nor unwraps (KeyDisabled) until it is enabled again. `stackbox kms ...` (cli.py) manages
keys; workers notice a change at their next use (the file's identity is checked on every use, one
stat call) and the default key (SSE-S3's, and SSE-KMS's without a key id) is created on first use.
Writers (the CLI, a worker creating the default key) hold an exclusive lock on `keys.lock`.

With a PostgreSQL catalog (`database`), the keys every node uses live in its `kms_key_set` table
instead of keys.json (the same document, one row, a revision a node compares on every use; writers
serialize on the database's write lock). Their material stays sealed under the master key: the
nodes' shared one (`master_key`, kept in the database under the cluster key file); without it,
master.key, which every node then needs: a node without the file creates one only while the database
holds no key yet, and otherwise refuses (copy master.key from a node that has it).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stackbox.sql import Database, schema_transaction, schema_version, set_schema_version, transaction
from stackbox.storage.space import private_dir
from stackbox.storage.types import DataCorrupted, KeyDisabled, KeyNotFound

DEFAULT_ALIAS = "aws/s3"
_ARN = re.compile(r"^arn:aws:kms:[^:]*:[^:]*:(key/(?P<key>.+)|(?P<alias>alias/.+))$")
_WRAP_VERSION = 4


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    alias: str | None
    description: str
    enabled: bool
    created: float
    #: Encrypted material of each version, oldest first (version n is `versions[n - 1]`).
    versions: tuple[bytes, ...]


class KeyService:
    def __init__(self, directory: Path, database: Database | None = None,
                 master_key: bytes | None = None) -> None:
        """`database`: a PostgreSQL database to keep the keys in (None: keys.json in `directory`).
        `master_key`: 32 bytes to use instead of `directory`/master.key (on PostgreSQL every node
        shares one, kept in the database under the cluster key file)."""
        if master_key is not None and len(master_key) != 32:
            raise ValueError("the KMS master key is 32 bytes")
        self.directory = directory
        self.database = database
        self._keys_path = directory / "keys.json"
        self._shared = None if database is None else _SharedKeySet(database)
        self._identity: tuple[int, int, int] | None = None
        self._keys: dict[str, KeyRecord] = {}
        self._master: AESGCM | None = None if master_key is None else AESGCM(master_key)
        self._material: dict[tuple[str, int], AESGCM] = {}

    # ------------------------------------------------------------------ management (the CLI)

    def create(self, description: str = "", alias: str | None = None) -> KeyRecord:
        if alias is not None and not alias.startswith("alias/"):
            alias = f"alias/{alias}"
        with self._writing() as keys:
            if alias is not None and any(record.alias == alias for record in keys.values()):
                raise ValueError(f"{alias} names another key already")
            key_id = str(uuid.uuid4())
            material = self._new_material(key_id, 1)
            record = KeyRecord(key_id, alias, description, True, time.time(), (material,))
            keys[record.key_id] = record
        return self._keys[record.key_id]

    def list(self) -> list[KeyRecord]:
        self._refresh()
        return sorted(self._keys.values(), key=lambda record: record.created)

    def set_enabled(self, key_ref: str, enabled: bool) -> KeyRecord:
        with self._writing() as keys:
            record = replace(_find(keys, key_ref), enabled=enabled)
            keys[record.key_id] = record
        return self._keys[record.key_id]

    def rotate(self, key_ref: str) -> KeyRecord:
        with self._writing() as keys:
            found = _find(keys, key_ref)
            fresh = self._new_material(found.key_id, len(found.versions) + 1)
            record = replace(found, versions=(*found.versions, fresh))
            keys[record.key_id] = record
        return self._keys[record.key_id]

    # ------------------------------------------------------------------ use (the engine)

    def resolve(self, key_ref: str | None) -> KeyRecord:
        """The enabled key `key_ref` names (a key id, `alias/<name>` or an ARN of either; None: the
        default key, created if need be). KeyNotFound, KeyDisabled."""
        self._refresh()
        if key_ref is None:
            record = next((r for r in self._keys.values() if r.alias == f"alias/{DEFAULT_ALIAS}"), None)
            if record is None:
                record = self._create_default()
        else:
            record = _find(self._keys, key_ref)
        if not record.enabled:
            raise KeyDisabled(record.key_id)
        return record

    def wrap(self, record: KeyRecord, data_key: bytes, context: bytes) -> bytes:
        """The data key encrypted by the newest version of `record`, bound to `context`."""
        version = len(record.versions)
        nonce = os.urandom(12)
        sealed = self._cipher(record, version).encrypt(nonce, data_key, _aad(record.key_id, context))
        return version.to_bytes(_WRAP_VERSION, "big") + nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        record = self.resolve(key_id)
        version = int.from_bytes(wrapped[:_WRAP_VERSION], "big")
        if not 1 <= version <= len(record.versions):
            raise DataCorrupted(f"key {key_id} has no version {version}")
        nonce, sealed = wrapped[_WRAP_VERSION:_WRAP_VERSION + 12], wrapped[_WRAP_VERSION + 12:]
        try:
            return self._cipher(record, version).decrypt(nonce, sealed, _aad(key_id, context))
        except InvalidTag:
            raise DataCorrupted("a wrapped data key failed authentication") from None

    # ------------------------------------------------------------------ internals

    def _cipher(self, record: KeyRecord, version: int) -> AESGCM:
        cached = self._material.get((record.key_id, version))
        if cached is None:
            sealed = record.versions[version - 1]
            try:
                material = self._master_cipher().decrypt(sealed[:12], sealed[12:],
                                                         f"{record.key_id}:{version}".encode())
            except InvalidTag:
                raise DataCorrupted(f"key {record.key_id} does not open with this master key") from None
            cached = self._material[record.key_id, version] = AESGCM(material)
        return cached

    def _new_material(self, key_id: str, version: int) -> bytes:
        """32 random bytes for a key's version, sealed under the master key (bound to id and version)."""
        nonce = os.urandom(12)
        return nonce + self._master_cipher().encrypt(nonce, os.urandom(32), f"{key_id}:{version}".encode())

    def _create_default(self) -> KeyRecord:
        with self._writing() as keys:
            found = next((r for r in keys.values() if r.alias == f"alias/{DEFAULT_ALIAS}"), None)
            if found is not None:
                return found
            key_id = str(uuid.uuid4())
            record = KeyRecord(key_id, f"alias/{DEFAULT_ALIAS}", "default key for SSE-S3 and SSE-KMS", True,
                               time.time(), (self._new_material(key_id, 1),))
            keys[record.key_id] = record
        return self._keys[record.key_id]

    def _master_cipher(self) -> AESGCM:
        if self._master is None:
            private_dir(self.directory)
            path = self.directory / "master.key"
            if self._shared is not None and not path.exists() and self._shared.holds_keys():
                raise DataCorrupted(f"{path} is missing, and the shared database holds keys sealed under "
                                    "a master key: copy master.key from a node that has it")
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, os.urandom(32))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            master = path.read_bytes()
            if len(master) != 32:
                raise DataCorrupted(f"{path} is not a 32-byte key")
            self._master = AESGCM(master)
        return self._master

    def _refresh(self) -> None:
        if self._shared is not None:
            self._keys = self._shared.read(self._keys)
            return
        try:
            stat = os.stat(self._keys_path)
        except FileNotFoundError:
            self._identity, self._keys = None, {}
            return
        identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if identity != self._identity:
            self._keys = _decode(self._keys_path.read_bytes())
            self._identity = identity

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, KeyRecord]]:
        """The keys, to change in place; written back atomically under the writers' lock."""
        if self._shared is not None:
            with self._shared.writing() as keys:
                yield keys
            self._keys = self._shared.read(self._keys)
            return
        private_dir(self.directory)
        lock_fd = os.open(self.directory / "keys.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            self._identity = None
            self._refresh()
            keys = dict(self._keys)
            yield keys
            _write_private(self._keys_path, _encode(keys))
            self._identity = None
            self._refresh()
        finally:
            os.close(lock_fd)


class _SharedKeySet:
    """The key set in a database every node shares: one row, rewritten whole with a new revision."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._revision = -1
        conn = database.connection()
        with schema_transaction(conn):
            if schema_version(conn, "kms") == 0:
                conn.execute("CREATE TABLE kms_key_set (id INTEGER PRIMARY KEY, revision INTEGER NOT NULL, "
                             "document BLOB NOT NULL)")
                set_schema_version(conn, "kms", 1)

    def holds_keys(self) -> bool:
        row = self._db.connection().execute("SELECT document FROM kms_key_set WHERE id = 1").fetchone()
        return row is not None and bool(_decode(bytes(row[0])))

    def read(self, cached: dict[str, KeyRecord]) -> dict[str, KeyRecord]:
        """The current keys: `cached` unless another process changed them (one indexed read)."""
        row = self._db.connection().execute(
            "SELECT revision, CASE WHEN revision = ? THEN NULL ELSE document END FROM kms_key_set "
            "WHERE id = 1", (self._revision,)).fetchone()
        if row is None:
            self._revision = -1
            return {}
        if row[1] is None:
            return cached
        self._revision = int(row[0])
        return _decode(bytes(row[1]))

    @contextlib.contextmanager
    def writing(self) -> Iterator[dict[str, KeyRecord]]:
        conn = self._db.connection()
        with transaction(conn):  # the database's write lock: one writer at a time
            row = conn.execute("SELECT document FROM kms_key_set WHERE id = 1").fetchone()
            keys = {} if row is None else _decode(bytes(row[0]))
            yield keys
            conn.execute("INSERT INTO kms_key_set (id, revision, document) VALUES (1, 1, ?) ON CONFLICT (id) "
                         "DO UPDATE SET revision = kms_key_set.revision + 1, document = excluded.document",
                         (_encode(keys),))


def _find(keys: dict[str, KeyRecord], key_ref: str) -> KeyRecord:
    match = _ARN.match(key_ref)
    if match is not None:
        key_ref = match.group("key") or match.group("alias")
    if key_ref.startswith("alias/"):
        found = next((record for record in keys.values() if record.alias == key_ref), None)
    else:
        found = keys.get(key_ref)
    if found is None:
        raise KeyNotFound(key_ref)
    return found


def _aad(key_id: str, context: bytes) -> bytes:
    return key_id.encode() + b"\0" + context


def _encode(keys: dict[str, KeyRecord]) -> bytes:
    return orjson.dumps([
        {"id": r.key_id, "alias": r.alias, "description": r.description, "enabled": r.enabled,
         "created": r.created, "versions": [base64.b64encode(v).decode("ascii") for v in r.versions]}
        for r in keys.values()], option=orjson.OPT_INDENT_2)


def _decode(raw: bytes) -> dict[str, KeyRecord]:
    items: list[dict[str, Any]] = orjson.loads(raw) if raw else []
    return {item["id"]: KeyRecord(item["id"], item["alias"], item["description"], item["enabled"],
                                  item["created"], tuple(base64.b64decode(v) for v in item["versions"]))
            for item in items}


def _write_private(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
