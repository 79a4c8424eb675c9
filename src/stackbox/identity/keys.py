"""The keys of tokens and of EC2 secrets at rest (and, on PostgreSQL, the KMS master key).

Embedded (SQLite): key files under DATA_DIR/keys/ (mode 0600), one machine's own.

PostgreSQL: every node must hold the same keys, or a token issued by one node would not validate on
another. They live in the database (table `identity_key`), each sealed (Fernet) under the cluster key:
a file every node has (`Settings.cluster_key_file`, default DATA_DIR/cluster.key, mode 0600), made by
`stackbox cluster-key create PATH` and copied to the nodes. The database alone (a dump, a replica)
opens nothing. The first start against an empty database creates the keys, and the file too if it is
missing; nodes that start at once end up with one set (the first insert of each name wins and every
node reads what is stored). A node whose file does not open the stored keys refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken

if TYPE_CHECKING:
    from stackbox.config import Settings
    from stackbox.identity.store import Store

TOKEN_KEY = "token-fernet.key"
CREDENTIAL_KEY = "credential-fernet.key"
#: PostgreSQL only: the master key of stackbox's KMS (storage/keys.py), 32 bytes.
KMS_MASTER_KEY = "kms-master.key"


class ClusterKeyError(Exception):
    """The cluster key file is missing, malformed, too open, or not the one the database's keys need."""


@dataclass(frozen=True, slots=True)
class Keys:
    token: bytes
    credential: bytes
    #: None when embedded: the KMS keeps its own master.key in DATA_DIR/kms/.
    kms_master: bytes | None = None


# Embedded: files in the data dir ------------------------------------------------------------------


def keys_dir(data_dir: Path) -> Path:
    return data_dir / "keys"


def ensure_keys(data_dir: Path) -> None:
    """Create the key directory and any missing key; existing keys are never replaced."""
    directory = keys_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in (TOKEN_KEY, CREDENTIAL_KEY):
        _create_private(directory / name, Fernet.generate_key())


def load_key(data_dir: Path, name: str) -> bytes:
    return (keys_dir(data_dir) / name).read_bytes().strip()


# PostgreSQL: keys in the database, sealed under the cluster key file ----------------------------------


def create_cluster_key(path: Path) -> bool:
    """Write a new cluster key file (0600); False (and nothing written) when the file exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _create_private(path, Fernet.generate_key() + b"\n")


def read_cluster_key(path: Path) -> Fernet:
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes().strip()
    except FileNotFoundError:
        raise ClusterKeyError(f"the cluster key file {path} is missing: copy it from a node of this cluster "
                              "(STACKBOX_CLUSTER_KEY_FILE names where it is)") from None
    if mode & 0o077:
        raise ClusterKeyError(f"the cluster key file {path} is readable by others: chmod 600 it")
    try:
        if len(base64.urlsafe_b64decode(raw)) != 32:
            raise ValueError
        return Fernet(raw)
    except (ValueError, binascii.Error):
        raise ClusterKeyError(f"{path} is not a cluster key file "
                              "(`stackbox cluster-key create PATH` makes one)") from None


def ensure_shared_keys(store: Store, cluster_key_path: Path) -> None:
    """First start: the keys in the database (and the cluster key file, for a new cluster)."""
    if not store.shared_keys():
        create_cluster_key(cluster_key_path)  # a new cluster: its first node makes the file the others need
    cluster_key = read_cluster_key(cluster_key_path)
    fresh = {TOKEN_KEY: Fernet.generate_key(), CREDENTIAL_KEY: Fernet.generate_key(),
             KMS_MASTER_KEY: os.urandom(32)}
    store.add_shared_keys({name: cluster_key.encrypt(key) for name, key in fresh.items()})
    load_shared_keys(store, cluster_key_path)


def load_shared_keys(store: Store, cluster_key_path: Path) -> Keys:
    cluster_key = read_cluster_key(cluster_key_path)
    sealed = store.shared_keys()
    if not {TOKEN_KEY, CREDENTIAL_KEY, KMS_MASTER_KEY} <= sealed.keys():
        raise ClusterKeyError(f"{store.database.location} holds no identity keys yet: "
                              "run `stackbox bootstrap`")
    try:
        opened = {name: cluster_key.decrypt(value) for name, value in sealed.items()}
    except InvalidToken:
        raise ClusterKeyError(f"the cluster key file {cluster_key_path} does not open the keys stored in "
                              f"{store.database.location}: every node needs the same file") from None
    return Keys(opened[TOKEN_KEY], opened[CREDENTIAL_KEY], opened[KMS_MASTER_KEY])


def load_keys(settings: Settings, store: Store) -> Keys:
    """This node's keys: the data dir's files, or the database's shared ones."""
    if store.embedded:
        return Keys(load_key(settings.data_dir, TOKEN_KEY), load_key(settings.data_dir, CREDENTIAL_KEY))
    return load_shared_keys(store, settings.cluster_key_path)


def shared_kms_master(settings: Settings) -> bytes | None:
    """The KMS master key every node shares (None when embedded: DATA_DIR/kms/master.key is used)."""
    if settings.embedded_metadata:
        return None
    from stackbox.identity.service import open_store

    store = open_store(settings)
    try:
        return load_shared_keys(store, settings.cluster_key_path).kms_master
    finally:
        store.close()


def _create_private(path: Path, content: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    return True
