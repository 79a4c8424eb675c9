"""The storage engine shared by the S3 and Swift front ends: the only way they touch stored data.

    engine = Engine(data_dir, fsync=True, blobs_url="file")   # once per worker process
    Engine.recover(data_dir, blobs_url="file")                # once, in the supervisor, before workers start

Model: an account (`AUTH_<project_id>`, created implicitly) holds containers; a container holds
objects by key. An object's data is a list of extents over immutable, reference-counted blobs (or
inline bytes for small objects), so copies, multipart completion and Swift SLO manifests share
data instead of copying it. Metadata calls are synchronous (SQLite point queries, tens of µs);
streaming calls are async. Errors are the exceptions of `stackbox.storage.types`. Front ends use
it through `async_store.AsyncStore`, which awaits every metadata call: inline on a local catalog,
on this engine's metadata threads when `remote_catalog` is set (see `offload`).

Object data lives in a `BlobBackend` (`blob_backend.py`), chosen by URL: `file` (the default:
`DATA_DIR/blobs/`) or `rados://POOL?...` (Ceph RADOS, shared by every node). Write path
(`put_object`, `put_part`): the body streams into a new blob (files: `DATA_DIR/tmp/`) while MD5 and
the requested checksums are computed; it is verified and the blob committed (files: fsynced and
renamed under `DATA_DIR/blobs/`), and only then is the metadata committed in one transaction that
also checks the preconditions. Until that commit the previous version stays visible; a failure at
any point leaves no visible trace, and `recover()` deletes what a killed process left behind.
Object writes and deletes of one worker that arrive together share that transaction and its fsync
(`commits.GroupCommitter`); each is acknowledged only once the batch is durable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from stackbox.cluster import ClusterCounter
from stackbox.epoch import EpochCache, SharedCounter
from stackbox.sql import is_url
from stackbox.storage.blob_backend import BlobBackend, BlobWriter, open_backend
from stackbox.storage.blobs import CHUNK_SIZE
from stackbox.storage.codec import slice_extents
from stackbox.storage.ingest import INLINE_LIMIT, Received, receive
from stackbox.storage.keys import KeyService
from stackbox.storage.lifecycle import LifecycleOperations
from stackbox.storage.listing import KeyRange, list_page
from stackbox.storage.manifests import flatten
from stackbox.storage.metadata import Catalog, visible
from stackbox.storage.multipart import MultipartOperations
from stackbox.storage.quotas import Quota, quota_of
from stackbox.storage.reclaim import BlobDeletes
from stackbox.storage.records import ContainerRef, NewObject
from stackbox.storage.sealing import (
    check_customer_key,
    data_key_of,
    read_plain,
    refuse_stray_customer_key,
    seal,
)
from stackbox.storage.space import disk_full_refused, private_dir
from stackbox.storage.threaded_catalog import ThreadedCatalog
from stackbox.storage.types import (
    DEFAULT_ATTRS,
    MAX_KEY_BYTES,
    NO_CHECKS,
    NO_PRECONDITIONS,
    AccountInfo,
    Checksum,
    ConditionalConflict,
    ContainerInfo,
    ContainerListing,
    DataUnavailable,
    Deletion,
    EncryptedSegment,
    Encryption,
    Extent,
    InsufficientStorage,
    InvalidKey,
    InvalidRange,
    KeyTooLong,
    LockConfiguration,
    MetaCheck,
    NoSuchContainer,
    NoSuchObject,
    ObjectAttrs,
    ObjectEntry,
    ObjectInfo,
    ObjectListing,
    ObjectLock,
    PreconditionFailed,
    Preconditions,
    Sealing,
    SegmentRef,
    Versioning,
    VersionListing,
    WriteChecks,
)
from stackbox.storage.versions import (
    Position,
    VersionRow,
    check_version_id,
    list_versions,
    list_versions_desc,
    start_position,
    start_position_desc,
)

#: Freed blobs keep their files this long, so that reads which already resolved an object finish.
FREED_BLOB_GRACE = 60.0
#: How often (at most) a worker deletes the files of freed blobs after its own writes.
PURGE_INTERVAL = 5.0
#: Blob ranges are read in a worker thread from this size on. Measured (bench/storage_engine.py):
#: 1 MiB preads inline run at ~7 GB/s from the page cache versus ~4 GB/s through a thread hop each,
#: and one pread blocks the loop for ~0.2 ms, so reads stay inline by default.
THREAD_READ_MIN = 1 << 62
#: Bound on the per-worker cache of container refs (it is simply emptied when full).
KNOWN_CONTAINERS = 10_000
#: When free space runs short, a write first deletes the files of blobs freed this long ago (instead
#: of FREED_BLOB_GRACE), at most every URGENT_PURGE_INTERVAL: deletes make room at once, as in Swift.
LOW_SPACE_GRACE = 1.0
URGENT_PURGE_INTERVAL = 1.0
#: Recovery with a remote (shared) blob backend leaves alone what was written this recently: other
#: nodes may be writing it (a write in progress touches a new stripe at least every few MiB) or be
#: about to commit its metadata.
REMOTE_RECOVERY_AGE = 3600.0
#: Metadata threads per worker on a remote (PostgreSQL) catalog, unless `metadata_threads` says.
REMOTE_CATALOG_THREADS = 8

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("stackbox.storage")

#: `Engine(metadata=...)` for the embedded catalog, DATA_DIR/meta.db.
EMBEDDED = "sqlite"


def catalog_target(data_dir: Path, metadata: str) -> Path | str:
    """The catalog's SQLite file or PostgreSQL URL, from `metadata` (`sqlite` or a URL)."""
    if metadata == EMBEDDED:
        return data_dir / "meta.db"
    if not is_url(metadata):
        raise ValueError(f"metadata must be 'sqlite' or a postgresql:// URL, not {metadata!r}")
    return metadata


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    #: Writes that neither committed nor aborted (temp files, RADOS stripes without a head).
    temp_files: int
    orphan_blobs: int
    freed_blobs: int


class Engine(MultipartOperations, LifecycleOperations):
    #: The switch of issue 12: True when a catalog call is a network round trip (PostgreSQL). Then
    #: `AsyncStore` and the engine's own async methods run catalog calls on `executor_threads`
    #: threads of this worker instead of on its event loop (`offload`); False (SQLite) runs them
    #: inline, without a thread hop.
    remote_catalog: bool = False
    #: The size of that thread pool (created on first use).
    executor_threads: int = 0

    def __init__(self, data_dir: Path, *, fsync: bool = True, reserve_bytes: int = 0,
                 blobs_url: str = "file", metadata_threads: int = 0, metadata: str = EMBEDDED,
                 meta_epoch: SharedCounter | None = None, kms_master: bytes | None = None) -> None:
        """`reserve_bytes`: free space object data must leave in the blob backend (else
        InsufficientStorage), so that metadata writes and recovery never run out of it. `blobs_url`:
        where object data lives (see `blob_backend.open_backend`). `metadata`: where the catalog
        lives, `sqlite` (DATA_DIR/meta.db) or a `postgresql://` URL; its schema is created or upgraded
        here (on PostgreSQL under a cluster-wide lock, so once). A PostgreSQL catalog is remote: its
        calls run on `metadata_threads` threads (REMOTE_CATALOG_THREADS if 0), each with a connection
        of its own. `metadata_threads` > 0 takes the remote-catalog path on SQLite too (with a
        connection per thread): how tests and benchmarks exercise it without a network database.
        `meta_epoch`: the counter of the metadata caches (a cluster's also tells the other nodes, see
        `stackbox.cluster`). `kms_master`: the KMS master key when it is not the data dir's own
        (on PostgreSQL, the one every node shares: identity/keys.py)."""
        private_dir(data_dir)
        target = catalog_target(data_dir, metadata)
        Catalog.create_schema(target)
        if not isinstance(target, Path):
            self.remote_catalog = True
            self.executor_threads = metadata_threads or REMOTE_CATALOG_THREADS
            # One connection per metadata thread, the group committer's, and a few for callers' own threads.
            self._catalog: Catalog = Catalog(target, durable=fsync, pool_size=self.executor_threads + 4)
        elif metadata_threads > 0:
            self.remote_catalog = True
            self.executor_threads = metadata_threads
            self._catalog = ThreadedCatalog(target, durable=fsync)
        else:
            self._catalog = Catalog(target, durable=fsync)
        self._executor: ThreadPoolExecutor | None = None
        try:
            self._blobs: BlobBackend = open_backend(blobs_url, data_dir, fsync=fsync,
                                                    reserve_bytes=reserve_bytes)
        except BaseException:
            self._catalog.close()
            raise
        self._deletes = BlobDeletes(self._blobs)
        self._keys = KeyService(data_dir / "kms", None if isinstance(target, Path) else self._catalog.db,
                                master_key=kms_master)
        self._next_purge = 0.0
        self._next_urgent_purge = 0.0
        #: (account, name) -> ref of containers seen to exist, saving a query per PUT. An entry can be
        #: stale (deleted by another worker): commits look the container up again, so a stale entry
        #: only delays NoSuchContainer until the body is read.
        self._known_containers: dict[tuple[str, str], ContainerRef] = {}
        #: Container metadata read on hot paths (S3 lifecycle rules on every GET/HEAD/PUT, Swift's
        #: legacy versioning on every PUT/DELETE), cached per worker; every worker's entries go
        #: as soon as any worker changes a container's metadata (the epoch is bumped after commit).
        self._meta_epoch = meta_epoch or SharedCounter(data_dir / "container-epoch")
        if isinstance(self._meta_epoch, ClusterCounter):  # the other nodes hear of it within the write
            self._catalog.announce_meta = self._meta_epoch.announce
        self._container_meta: EpochCache[tuple[str, str], Mapping[str, str]] = EpochCache(
            self._meta_epoch, KNOWN_CONTAINERS)
        #: The quotas of each container written to, parsed from both (a 1-tuple: None is "no quota").
        self._quotas: EpochCache[tuple[str, str], tuple[Quota | None]] = EpochCache(self._meta_epoch,
                                                                                    KNOWN_CONTAINERS)
        #: The Object Lock configuration of each container (a 1-tuple: None is "no lock"), read by
        #: every S3 PUT without a checksum header (S3 then wants one if a default retention applies).
        self._lock_configurations: EpochCache[tuple[str, str], tuple[LockConfiguration | None]] = EpochCache(
            self._meta_epoch, KNOWN_CONTAINERS)
        #: Account metadata read on every object write (its quotas), cached the same way.
        self._account_meta: EpochCache[str, Mapping[str, str]] = EpochCache(self._meta_epoch,
                                                                             KNOWN_CONTAINERS)

    @classmethod
    def recover(cls, data_dir: Path, blobs_url: str = "file", *, metadata: str = EMBEDDED) -> RecoveryReport:
        """Delete unfinished writes, blobs no metadata references, and freed blobs. Only call it
        while no other process of this node uses the data dir (the supervisor, before forking
        workers). It deletes data before it writes any metadata, so it also runs (and makes room) on
        a full disk. With a remote backend, which other nodes share, it only deletes unfinished
        writes and unreferenced blobs older than REMOTE_RECOVERY_AGE."""
        private_dir(data_dir)
        blobs = open_backend(blobs_url, data_dir)
        try:  # before the catalog is opened (which may write): a full disk gets room first
            cutoff = time.time() - REMOTE_RECOVERY_AGE if blobs.remote else math.inf
            unfinished = blobs.collect_unfinished(cutoff)
        finally:
            blobs.close()
        engine = cls(data_dir, blobs_url=blobs_url, metadata=metadata)
        try:
            blobs = engine._blobs
            known = engine._catalog.known_blobs()
            orphans = [blob_id for blob_id in blobs.scan() if blob_id not in known]
            if blobs.remote:
                orphans = [blob_id for blob_id in orphans if _written_before(blobs, blob_id, cutoff)]
            for blob_id in orphans:
                blobs.delete(blob_id)
            freed = engine._purge(time.time() + FREED_BLOB_GRACE, wait=True)
            return RecoveryReport(unfinished, len(orphans), freed)
        finally:
            engine.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        try:
            self._deletes.close()
            self._blobs.close()
        finally:
            self._catalog.close()

    async def offload(self, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)`, a call that may query the catalog: inline when the catalog is
        local (a SQLite point query costs less than a thread hop), else on this worker's metadata
        threads, so that a network round trip does not hold the event loop."""
        if not self.remote_catalog:
            return call(*args, **kwargs)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max(1, self.executor_threads),
                                                thread_name_prefix="stackbox-metadata")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(call, *args, **kwargs))

    # ------------------------------------------------------------------------------ accounts

    def get_account(self, account: str) -> AccountInfo:
        """Always answers: an account never written to has zero totals and `created == 0.0`."""
        return self._catalog.account(account)

    def update_account_meta(self, account: str, updates: Mapping[str, str],
                            remove: Iterable[str] = (), check: MetaCheck | None = None) -> None:
        """Sets `updates` and deletes the `remove` names in the account's metadata; `check` may
        refuse the result (by raising) before it is written."""
        self._catalog.update_account_meta(account, updates, remove, check)
        self._meta_epoch.bump()

    def account_meta(self, account: str) -> Mapping[str, str]:
        """`get_account(...).meta`, cached until any worker changes an account's or a container's
        metadata."""
        cached = self._account_meta.get(account)
        if cached is not None:
            return cached
        epoch = self._meta_epoch.value()
        meta = self._catalog.account_meta(account)
        if self._meta_epoch.value() == epoch:
            self._account_meta.put(account, meta)
        return meta

    def list_containers(self, account: str, *, prefix: str = "", delimiter: str = "", marker: str = "",
                        end_marker: str = "", limit: int = 10_000, reverse: bool = False) -> ContainerListing:
        def fetch(key_range: KeyRange, descending: bool, count: int) -> Iterator[ContainerInfo]:
            return self._catalog.containers(account, key_range, descending, count)

        page = list_page(fetch, _container_name, prefix=prefix, delimiter=delimiter, marker=marker,
                         end_marker=end_marker, limit=limit, reverse=reverse)
        containers = [entry for entry in page.entries if not isinstance(entry, str)]
        prefixes = [entry for entry in page.entries if isinstance(entry, str)]
        return ContainerListing(containers, prefixes, page.truncated, page.next_marker(_container_name))

    # ------------------------------------------------------------------------------ containers

    def create_container(self, account: str, name: str, meta: Mapping[str, str] | None = None) -> bool:
        """True if created, False if it already existed (then `meta` is not applied)."""
        created = self._catalog.create_container(account, name, meta or {})
        self._meta_epoch.bump()
        return created

    def get_container(self, account: str, name: str) -> ContainerInfo:
        info = self._catalog.container(account, name)
        if info is None:
            raise NoSuchContainer(f"{account}/{name}")
        return info

    def cached_container_meta(self, account: str, name: str) -> Mapping[str, str] | None:
        """What `container_meta` answers from this worker's cache, without a query (None: not cached)."""
        return self._container_meta.get((account, name))

    def container_meta(self, account: str, name: str) -> Mapping[str, str]:
        """`get_container(...).meta`, cached until any worker changes a container's metadata."""
        key = (account, name)
        cached = self._container_meta.get(key)
        if cached is not None:
            return cached
        epoch = self._meta_epoch.value()
        meta = self.get_container(account, name).meta
        if self._meta_epoch.value() == epoch:  # else a change committed meanwhile: do not cache
            self._container_meta.put(key, meta)
        return meta

    def read_container_meta(self, account: str, name: str) -> Mapping[str, str]:
        """The container's committed metadata, queried, never cached: what a read of a configuration
        answers (read-your-writes through any node, whose cache may be milliseconds behind)."""
        return self.get_container(account, name).meta

    def quota(self, account: str, container: str) -> Quota | None:
        """The quotas a write to the container must keep, from cached metadata (no query); the parsed
        result is cached too (one lookup on the PUT path)."""
        key = (account, container)
        cached = self._quotas.get(key)
        if cached is not None:
            return cached[0]
        epoch = self._meta_epoch.value()
        quota = quota_of(self.container_meta(account, container), self.account_meta(account))
        if self._meta_epoch.value() == epoch:
            self._quotas.put(key, (quota,))
        return quota

    def container_accounts(self, name: str) -> list[str]:
        """The accounts holding a container called `name` (S3 uses it for anonymous access to public
        buckets and to tell "another project's bucket" from "no such bucket")."""
        return self._catalog.container_accounts(name)

    def update_container_meta(self, account: str, name: str, updates: Mapping[str, str],
                              remove: Iterable[str] = (), check: MetaCheck | None = None) -> ContainerInfo:
        info = self._catalog.update_container_meta(account, name, updates, remove, check)
        self._meta_epoch.bump()
        return info

    def delete_container(self, account: str, name: str) -> None:
        """Raises `ContainerNotEmpty` while it holds a live object; pending uploads are aborted."""
        self._known_containers.pop((account, name), None)
        self._catalog.delete_container(account, name, time.time())
        self._meta_epoch.bump()
        self._maybe_purge()

    def list_objects(self, account: str, container: str, *, prefix: str = "", delimiter: str = "",
                     marker: str = "", end_marker: str = "", limit: int = 1000,
                     reverse: bool = False) -> ObjectListing:
        """One page in binary UTF-8 key order (descending if `reverse`; then `marker` is the upper
        bound, as in Swift). Keys under a common prefix roll up into `prefixes`."""
        ref = self._catalog.container_ref(account, container)
        now = time.time()

        def fetch(key_range: KeyRange, descending: bool, count: int) -> Iterator[ObjectEntry]:
            return self._catalog.objects(ref.id, key_range, descending, count, now)

        page = list_page(fetch, _entry_key, prefix=prefix, delimiter=delimiter, marker=marker,
                         end_marker=end_marker, limit=limit, reverse=reverse)
        objects = [entry for entry in page.entries if not isinstance(entry, str)]
        prefixes = [entry for entry in page.entries if isinstance(entry, str)]
        return ObjectListing(objects, prefixes, page.truncated, page.next_marker(_entry_key))

    # ------------------------------------------------------------------------------ objects

    def current_meta(self, account: str, container: str, keys: Sequence[str]) -> dict[str, dict[str, str]]:
        """The metadata of the current objects among `keys` (absent ones left out), read at once: what
        a listing that annotates its entries (Swift's symlinks) needs, without a read per entry."""
        ref = self._catalog.container_ref(account, container)
        return self._catalog.current_meta(ref.id, keys, time.time())

    def head_object(self, account: str, container: str, key: str,
                    version_id: str | None = None) -> ObjectInfo:
        """The current version if it is a live object, else `NoSuchObject` (with `delete_marker`
        set when a delete marker is current), or `NoSuchContainer`. Expired versions are absent.
        With `version_id`: that version, else InvalidVersionId, NoSuchVersion, DeleteMarkerVersion."""
        if version_id is not None:
            check_version_id(version_id)
        found = self._catalog.find_version(account, container, key, version_id, time.time())
        if found is None:
            self.get_container(account, container)
        return visible(found, f"{account}/{container}/{key}", version_id)

    get_object = head_object

    async def put_object(self, account: str, container: str, key: str, body: AsyncIterator[bytes], *,
                         attrs: ObjectAttrs = DEFAULT_ATTRS, checks: WriteChecks = NO_CHECKS,
                         preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo:
        """Stream `body` into a new version of the object; see the module docstring for guarantees.

        Raises NoSuchContainer, KeyTooLong, PreconditionFailed or NoSuchObject (before reading the
        body: see `Preconditions`), ConditionalConflict (they held then, not at the commit),
        EntityTooLarge, IncompleteBody, BadDigest, ChecksumMismatch, InsufficientStorage (also
        before reading the body, for a declared length that does not fit).
        """
        admitted = self._admitted(account, container, key, preconditions)
        if admitted is None:
            admitted = await self.offload(self._admit, account, container, key, preconditions,
                                          checks.length or 0)
        ref, quota = admitted
        sealing, data_key = self._seal(attrs.encryption)
        if attrs.encryption is not None or attrs.sealing is not None:  # else already as stored (a
            attrs = dataclasses.replace(attrs, encryption=None, sealing=sealing)  # replace costs ~2 us)
        await self._make_room(checks.length or 0)
        with disk_full_refused():
            received = await receive(self._blobs, body, checks, data_key=data_key)
            checksum = _stored_checksum(checks, received)
            try:
                return await self._commit_received(ref, key, received, attrs, checksum, preconditions,
                                                   quota)
            except (PreconditionFailed, NoSuchObject) as error:
                raise ConditionalConflict(str(error)) from error

    def read(self, obj: ObjectInfo, start: int = 0, end: int | None = None, *,
             customer_key: bytes | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the object (end exclusive, default: its size) in chunks of <= 1 MiB,
        decrypted if the object is encrypted at rest (SSE-C: with `customer_key`).

        Call once per range for multi-range responses. Raises `InvalidRange` for an unsatisfiable
        range and the key errors of `check_encryption_key` (plus KeyNotFound, KeyDisabled) before
        it returns; `DataUnavailable` mid-stream if a blob vanished, `DataCorrupted` if encrypted
        data fails authentication (the response must be aborted).
        """
        stop = obj.size if end is None else end
        if start < 0 or stop > obj.size or start > stop:
            raise InvalidRange(f"bytes {start}-{stop} of {obj.size}")
        data_key = None if obj.sealing is None else data_key_of(self._keys, obj.sealing, customer_key)
        if obj.sealing is None:
            refuse_stray_customer_key(None, customer_key)
        return self._stream(slice_extents(obj.extents, start, stop), data_key)

    def check_encryption_key(self, obj: ObjectInfo, customer_key: bytes | None) -> None:
        """What a metadata read (HEAD) checks: an SSE-C object needs its customer key
        (CustomerKeyRequired, WrongCustomerKey); a customer key for any other object is refused
        (CustomerKeyNotApplicable). Nothing is decrypted."""
        check_customer_key(obj.sealing, customer_key)

    @property
    def keys(self) -> KeyService:
        """The key service that wraps the data keys of SSE-S3 and SSE-KMS objects."""
        return self._keys

    def update_object(self, account: str, container: str, key: str, **changes: Any) -> ObjectInfo:
        """Rewrite some attributes of the current version without touching the data: any of
        `content_type`, `meta`, `headers`, `tags`, `acl`, `delete_at` (each replaces the stored value);
        `touch=True` also makes now its last-modified time."""
        return self._catalog.update_object(account, container, key, None, changes, time.time())

    def update_version(self, account: str, container: str, key: str, version_id: str | None,
                       changes: Mapping[str, Any]) -> ObjectInfo:
        """`update_object` on the named version (None: the current one); errors as in `head_object`."""
        if version_id is not None:
            check_version_id(version_id)
        return self._catalog.update_object(account, container, key, version_id, changes, time.time())

    def delete_object(self, account: str, container: str, key: str,
                      preconditions: Preconditions = NO_PRECONDITIONS) -> bool:
        """True if a live object was current, False if there was none (NoSuchContainer if no
        container). What happens depends on the container's versioning, as in `delete`."""
        deletion = self._catalog.delete_object(account, container, key, None, preconditions, time.time())
        self._maybe_purge()
        return deletion.existed

    async def remove_object(self, account: str, container: str, key: str,
                            preconditions: Preconditions = NO_PRECONDITIONS) -> bool:
        """`delete_object` committed together with the concurrent writes of this worker (one fsync
        for all of them): the one to use on request paths."""
        return (await self.delete(account, container, key, preconditions=preconditions)).existed

    async def delete(self, account: str, container: str, key: str, *, version_id: str | None = None,
                     preconditions: Preconditions = NO_PRECONDITIONS,
                     bypass_governance: bool = False) -> Deletion:
        """Without `version_id`: in an unversioned container the object is deleted; otherwise a
        delete marker becomes the current version (in a suspended one, as the null version, which
        it replaces). With `version_id`: that version (or marker) is deleted for good, and if it was
        current the next newest becomes current, unless Object Lock protects it (ObjectLocked; a
        GOVERNANCE retention yields to `bypass_governance`). Group committed; preconditions apply
        to the current version (without `version_id`)."""
        if version_id is not None:
            check_version_id(version_id)
        deletion = await self._catalog.delete_object_grouped(account, container, key, version_id,
                                                             preconditions, time.time(),
                                                             bypass_governance=bypass_governance)
        await self._purge_if_due()
        return deletion

    def set_versioning(self, account: str, container: str, state: Versioning) -> None:
        """"enabled" or "suspended" (a container never returns to "unversioned")."""
        self._catalog.set_versioning(account, container, state)

    # ------------------------------------------------------------------------------ object lock

    def create_locked_container(self, account: str, name: str, meta: Mapping[str, str] | None = None) -> bool:
        """`create_container` with Object Lock on and versioning enabled (for good, both)."""
        created = self._catalog.create_locked_container(account, name, meta or {})
        self._meta_epoch.bump()
        return created

    def cached_lock_configuration(self, account: str,
                                  container: str) -> tuple[LockConfiguration | None] | None:
        """What `get_lock_configuration` answers from the cache, as a 1-tuple (None: not cached)."""
        return self._lock_configurations.get((account, container))

    def get_lock_configuration(self, account: str, container: str) -> LockConfiguration | None:
        """None: the container has no Object Lock. Cached until any worker changes a container's
        configuration (as `container_meta`)."""
        key = (account, container)
        cached = self._lock_configurations.get(key)
        if cached is not None:
            return cached[0]
        epoch = self._meta_epoch.value()
        config = self._catalog.lock_configuration(account, container)
        if self._meta_epoch.value() == epoch:
            self._lock_configurations.put(key, (config,))
        return config

    def read_lock_configuration(self, account: str, container: str) -> LockConfiguration | None:
        """`get_lock_configuration` queried, never cached (as `read_container_meta`)."""
        return self._catalog.lock_configuration(account, container)

    def put_lock_configuration(self, account: str, container: str, config: LockConfiguration) -> None:
        """Turns Object Lock on for good (LockedVersioning unless versioning is enabled), or
        replaces its default retention; versions already written keep theirs."""
        self._catalog.set_lock_configuration(account, container, config)
        self._meta_epoch.bump()

    def set_object_lock(self, account: str, container: str, key: str, version_id: str | None,
                        changes: Mapping[str, Any], *, bypass_governance: bool = False) -> ObjectLock:
        """Changes a version's `mode` and `retain_until` (together; None and None remove the
        retention) and/or its `legal_hold`. ObjectLocked if a retention in force forbids it (see
        `locks.may_change_retention`), ObjectLockNotEnabled without lock; errors as `head_object`."""
        if version_id is not None:
            check_version_id(version_id)
        return self._catalog.set_object_lock(account, container, key, version_id, changes, time.time(),
                                             bypass_governance=bypass_governance)

    def lock_state(self, account: str, container: str, key: str, version_id: str | None = None) -> ObjectLock:
        """A version's Object Lock state (errors as `head_object`). `ObjectLock.protects(now)` is
        the predicate housekeeping (lifecycle) must respect; `delete` enforces it anyway."""
        return self.head_object(account, container, key, version_id).lock

    def list_object_versions(self, account: str, container: str, *, prefix: str = "", delimiter: str = "",
                             key_marker: str = "", version_id_marker: str = "",
                             limit: int = 1000, reverse: bool = False) -> VersionListing:
        """One page of versions and delete markers (keys ascending, newest first within a key),
        after `key_marker` (and, with `version_id_marker`, after that version of it), S3 style.
        `reverse`: the exact reverse order, from `key_marker`'s oldest version (or from below the
        version named) down (Swift's `reverse=true`)."""
        ref = self._catalog.container_ref(account, container)
        now = time.time()
        marker_version = None
        if key_marker and version_id_marker:
            check_version_id(version_id_marker)
            marker_version = self._catalog.internal_version(ref.id, key_marker, version_id_marker)
        if reverse:
            def fetch_desc(position: Position | None, lower: str, count: int) -> Iterator[VersionRow]:
                return self._catalog.versions_desc(ref.id, position, lower, count, now)

            return list_versions_desc(fetch_desc, prefix=prefix, delimiter=delimiter, limit=limit,
                                      start=start_position_desc(key_marker, marker_version, prefix))
        start = start_position(key_marker, marker_version, prefix, delimiter)

        def fetch(position: Position, upper: str | None, count: int) -> Iterator[VersionRow]:
            return self._catalog.versions(ref.id, position, upper, count, now)

        return list_versions(fetch, prefix=prefix, delimiter=delimiter, start=start, limit=limit)

    def copy_object(self, src_account: str, src_container: str, src_key: str, dst_account: str,
                    dst_container: str, dst_key: str, *, attrs: ObjectAttrs | None = None,
                    source_etag: str | None = None, source_version: str | None = None,
                    preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo:
        """A new object sharing the source's data (no bytes copied), encrypted as the source is.
        `attrs=None` keeps the source's attributes; `source_etag` makes the copy fail with
        PreconditionFailed if the source changed; `source_version` copies that version of the source
        (errors as in `head_object`)."""
        return self._share_copy(src_account, src_container, src_key, dst_account, dst_container, dst_key,
                                attrs=attrs, source_etag=source_etag, source_version=source_version,
                                preconditions=preconditions)

    async def copy_encrypted(self, source: ObjectInfo, dst_account: str, dst_container: str, dst_key: str, *,
                             attrs: ObjectAttrs, source_version: str | None = None,
                             source_key: bytes | None = None,
                             preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo:
        """S3's CopyObject of `source` (as read by the caller): the copy is encrypted as
        `attrs.encryption` says (None: plaintext); `source_key` opens an SSE-C source.

        Plaintext to plaintext shares the data, as `copy_object`. Between server-managed keys
        (SSE-S3, SSE-KMS), and between SSE-C copies under the same customer key, the data key is
        rewrapped for the copy and the data shared. Any other pair (plaintext <-> encrypted, a new
        customer key) streams the data through, decrypted and encrypted again: a copy under a new
        customer key must not open with the old one."""
        target = attrs.encryption
        source_data_key = None
        if source.sealing is not None:
            source_data_key = data_key_of(self._keys, source.sealing, source_key)
        else:
            refuse_stray_customer_key(None, source_key)
        location = (source.account, source.container, source.key)
        if source.sealing is None and target is None:
            return await self.offload(self._share_copy, *location, dst_account, dst_container, dst_key,
                                      attrs=attrs, source_etag=source.etag, source_version=source_version,
                                      preconditions=preconditions)
        if source.sealing is not None and target is not None and _same_key_family(source.sealing, target,
                                                                                  source_key):
            sealing, _ = seal(self._keys, target, source_data_key)
            return await self.offload(self._share_copy, *location, dst_account, dst_container, dst_key,
                                      attrs=attrs, source_etag=source.etag, source_version=source_version,
                                      preconditions=preconditions, sealing=sealing,
                                      rewrapped_from=source.sealing.wrapped_key)
        checks = WriteChecks(length=source.size, algorithms=_recomputable(source.checksum))
        body = self.read(source, customer_key=source_key)
        return await self.put_object(dst_account, dst_container, dst_key, body, attrs=attrs, checks=checks,
                                     preconditions=preconditions)

    def _share_copy(self, src_account: str, src_container: str, src_key: str, dst_account: str,
                    dst_container: str, dst_key: str, *, attrs: ObjectAttrs | None,
                    source_etag: str | None, source_version: str | None, preconditions: Preconditions,
                    sealing: Sealing | None = None, rewrapped_from: bytes | None = None) -> ObjectInfo:
        _check_key(dst_key)
        if source_version is not None:
            check_version_id(source_version)
        dst = self._catalog.container_ref(dst_account, dst_container)
        quota = self.quota(dst_account, dst_container)
        now = time.time()

        def build(src: ObjectInfo) -> NewObject:
            if source_etag is not None and source_etag.strip('"') != src.etag:
                raise PreconditionFailed("the copy source changed")
            if sealing is not None and (src.sealing is None or src.sealing.wrapped_key != rewrapped_from):
                raise PreconditionFailed("the copy source changed")  # its data key is not the one rewrapped
            kept = _attrs_of(src) if attrs is None else attrs
            final = dataclasses.replace(kept, encryption=None, sealing=sealing or src.sealing)
            return NewObject(src.size, src.etag, final, src.checksum, src.parts, src.extents,
                             _inline_data(src), quota=quota)

        source = (src_account, src_container, src_key)
        return self._catalog.copy_version(source, source_version, dst, dst_key, build, preconditions, now)

    def put_manifest_object(self, account: str, container: str, key: str, segments: Sequence[SegmentRef], *,
                            attrs: ObjectAttrs, etag: str | None = None,
                            preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo:
        """A Swift static large object: its data is the concatenation of the segments (or their
        ranges), resolved now into extents that share the segments' blobs. `attrs.manifest` is the
        manifest document to return on `multipart-manifest=get`. `etag` defaults to Swift's SLO etag
        (MD5 of the segments' etags, with `:start-end;` for ranged ones). The segments are read and
        flattened before the write lock, within `manifests`' bounds; the commit checks that they
        are unchanged. Raises `InvalidSegment`, `ManifestTooLarge`."""
        _check_key(key)
        ref = self._catalog.container_ref(account, container)
        now = time.time()
        flat = flatten(account, segments, lambda location: _plain(self._catalog.find_object(*location, now)))
        final_attrs = dataclasses.replace(attrs, manifest_type="slo", encryption=None, sealing=None)
        new = NewObject(flat.size, etag or flat.etag, final_attrs, extents=flat.extents,
                        quota=self.quota(account, container))
        return self._catalog.store_manifest(ref, key, new, flat.segments, preconditions, now)

    def reap_expired(self, now: float | None = None, limit: int = 1000) -> int:
        """Delete up to `limit` versions whose delete_at has passed (when one was current, the next
        newest version becomes current); returns how many were found."""
        moment = time.time() if now is None else now
        expired = self._catalog.expired(moment, limit)
        for row_id in expired:
            self._catalog.reap(row_id, moment)
        self._maybe_purge()
        return len(expired)

    def collect_garbage(self, grace: float = FREED_BLOB_GRACE) -> int:
        """Delete the data of blobs unreferenced for `grace` seconds; returns how many were found (a
        remote backend deletes them in the background, see `reclaim.py`)."""
        return self._purge(time.time() - grace)

    # ------------------------------------------------------------------------------ internals

    def _admit(self, account: str, container: str, key: str, preconditions: Preconditions,
               length: int) -> tuple[ContainerRef, Quota | None]:
        """What `put_object` reads of the catalog before the body (one hop when it is remote)."""
        ref = self._writable(account, container, key, preconditions, cached=True)
        quota = self.quota(account, container)
        if quota is not None:  # refused before the body is read when its declared length cannot fit
            quota.check(self._catalog.conn, ref.id, account, length)
        return ref, quota

    def _admitted(self, account: str, container: str, key: str,
                  preconditions: Preconditions) -> tuple[ContainerRef, Quota | None] | None:
        """`_admit`'s answer when this worker's caches give it without a query (no preconditions, the
        container known, no quota), else None: on a remote catalog, a PUT without a thread hop."""
        ref = self._known_containers.get((account, container))
        if ref is None or preconditions.any:
            return None
        quota = self._quotas.get((account, container))
        if quota is None or quota[0] is not None:
            return None
        _check_key(key)
        return ref, None

    def _writable(self, account: str, container: str, key: str, preconditions: Preconditions, *,
                  cached: bool = False) -> ContainerRef:
        """Checks that can fail before a body is read (they are checked again at commit). With
        `cached`, the container may come from this worker's cache: only for a ref that the commit
        resolves again by name (`Catalog.store_object` does)."""
        _check_key(key)
        lookup = self._container_ref if cached else self._catalog.container_ref
        ref = lookup(account, container)
        if preconditions.any:
            found = self._catalog.find_object(account, container, key, time.time())
            preconditions.check(None if found is None else (found.etag, found.size, found.last_modified))
        return ref

    def _container_ref(self, account: str, container: str) -> ContainerRef:
        ref = self._known_containers.get((account, container))
        if ref is None:
            ref = self._catalog.container_ref(account, container)
            if len(self._known_containers) >= KNOWN_CONTAINERS:
                self._known_containers.clear()
            self._known_containers[account, container] = ref
        return ref

    async def _commit_received(self, ref: ContainerRef, key: str, received: Received, attrs: ObjectAttrs,
                               checksum: Checksum | None, preconditions: Preconditions,
                               quota: Quota | None) -> ObjectInfo:
        new = NewObject(received.size, received.md5_hex, attrs, checksum, inline=received.inline, quota=quota)
        writer = received.writer
        undo = None
        if writer is not None:
            await self._commit_blob(writer)
            new = NewObject(received.size, received.md5_hex, attrs, checksum,
                            extents=(Extent(writer.blob_id, 0, received.size),),
                            new_blob=(writer.blob_id, received.size), quota=quota)
            undo = partial(self._delete_blob, writer.blob_id)
        info = await self._catalog.commit_object(ref, key, new, preconditions, time.time(), undo)
        await self._purge_if_due()
        return info

    async def _commit_blob(self, writer: BlobWriter) -> None:
        """Commit a received blob (in a worker thread: it syncs or waits for the network); on
        failure, or if the caller is cancelled meanwhile, the blob is removed."""
        committing = asyncio.get_running_loop().run_in_executor(None, writer.commit)
        try:
            await asyncio.shield(committing)
        except BaseException:
            if committing.done():
                self._in_background(writer.abort)
            else:  # cancelled: the abort must wait for the commit still running
                committing.add_done_callback(lambda _: self._in_background(writer.abort))
            raise

    def _delete_blob(self, blob_id: str) -> None:
        """Delete a committed blob whose metadata commit failed (or will not happen)."""
        self._in_background(self._blobs.delete, blob_id)

    def _in_background(self, call: Any, *args: Any) -> None:
        """Run a blob backend call now (local files) or in a worker thread without waiting for it
        (remote: it is a round trip; its failure is only logged)."""
        if not self._blobs.remote:
            call(*args)
            return
        done = asyncio.get_running_loop().run_in_executor(None, call, *args)
        done.add_done_callback(_log_failure)

    async def _blob_call(self, call: Any, *args: Any) -> Any:
        """A blob backend call: inline for local files, in a worker thread for a remote backend."""
        if self._blobs.remote:
            return await asyncio.to_thread(call, *args)
        return call(*args)

    def _seal(self, encryption: Encryption | None) -> tuple[Sealing | None, bytes | None]:
        if encryption is None:
            return None, None
        return seal(self._keys, encryption)

    async def _stream(self, extents: list[Extent], data_key: bytes | None = None) -> AsyncIterator[bytes]:
        for extent in extents:
            if extent.data is not None:
                for offset in range(0, extent.length, CHUNK_SIZE):
                    yield extent.data[offset:offset + CHUNK_SIZE]
            else:
                blob_id = extent.blob_id or ""
                chunks = (self._blobs.read(blob_id, extent.offset, extent.length) if data_key is None
                          else read_plain(self._blobs, blob_id, extent.offset, extent.length, data_key))
                if self._blobs.remote or extent.length >= THREAD_READ_MIN:
                    async for chunk in _threaded(chunks):
                        yield chunk
                else:
                    for chunk in chunks:
                        yield chunk

    def _purge_due(self) -> bool:
        now = time.monotonic()
        if now < self._next_purge:
            return False
        self._next_purge = now + PURGE_INTERVAL
        return True

    def _maybe_purge(self) -> None:
        if self._purge_due():
            self._purge(time.time() - FREED_BLOB_GRACE)

    async def _purge_if_due(self) -> None:
        """`_maybe_purge` for the async paths: the purge's catalog calls are offloaded."""
        if self._purge_due():
            await self.offload(self._purge, time.time() - FREED_BLOB_GRACE)

    async def _make_room(self, incoming: int) -> None:
        """Raise InsufficientStorage unless `incoming` bytes of data leave the reserve free, after
        deleting the data that deletes freed (their grace period is cut short when space is short)."""
        if self._blobs.remote and incoming <= INLINE_LIMIT:
            return  # a small body stays in the catalog (and a remote backend's room is a round trip)
        try:
            await self._blob_call(self._blobs.check_room, incoming)
        except InsufficientStorage:
            now = time.monotonic()
            if now < self._next_urgent_purge:
                raise
            self._next_urgent_purge = now + URGENT_PURGE_INTERVAL
            await self.offload(self._purge, time.time() - LOW_SPACE_GRACE)
            await self._blob_call(self._blobs.check_room, incoming)

    def _purge(self, freed_before: float, *, wait: bool = False) -> int:
        """Delete the data of blobs freed before `freed_before`, then forget the blobs (a remote
        backend's deletes go on in the background unless `wait`: those blobs are forgotten by a
        later pass). Forgetting is a metadata write: on a full disk it waits for a later pass, the
        space is free already (a freed blob is referenced by nothing, and nothing can reference it
        again). Returns how many freed blobs were found."""
        freed = self._catalog.freed_blobs(freed_before)
        deleted = self._deletes.delete(freed)
        if wait:
            deleted += self._deletes.wait()
        try:
            self._catalog.forget_blobs(deleted)
        except InsufficientStorage:
            log.warning("disk full: %d freed blobs are forgotten on a later pass", len(deleted))
        return len(freed)


_END = object()


async def _threaded(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull each chunk of a blocking iterator in a worker thread."""
    while True:
        chunk = await asyncio.to_thread(next, chunks, _END)
        if chunk is _END:
            return
        yield chunk  # type: ignore[misc]


def _written_before(blobs: BlobBackend, blob_id: str, cutoff: float) -> bool:
    try:
        return blobs.written_at(blob_id) < cutoff
    except DataUnavailable:  # deleted meanwhile
        return False


def _log_failure(done: asyncio.Future[Any]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.warning("a blob backend call in the background failed", exc_info=done.exception())


def _check_key(key: str) -> None:
    if not key:
        raise InvalidKey("empty key")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLong(key[:64])


def _stored_checksum(checks: WriteChecks, received: Received) -> Checksum | None:
    if not checks.algorithms:
        return None
    algorithm = checks.algorithms[0]
    return Checksum(algorithm, received.checksums[algorithm])


def _attrs_of(obj: ObjectInfo) -> ObjectAttrs:
    return ObjectAttrs(obj.content_type, obj.meta, obj.headers, obj.tags, obj.acl, obj.delete_at,
                       obj.manifest_type, obj.manifest, sealing=obj.sealing)


def _plain(found: ObjectInfo | None) -> ObjectInfo | None:
    """A manifest's segment: a static large object's extents carry no keys, so segments encrypted at
    rest cannot be part of one."""
    if found is not None and found.sealing is not None:
        raise EncryptedSegment(f"{found.container}/{found.key} is encrypted at rest")
    return found


def _same_key_family(sealing: Sealing, target: Encryption, source_key: bytes | None) -> bool:
    """Whether a copy may keep the source's data key (rewrapped): between the key service's keys, or
    under the very customer key the source was sealed with."""
    if sealing.mode == "SSE-C" or target.mode == "SSE-C":
        return sealing.mode == target.mode and target.customer_key == source_key
    return True


def _recomputable(checksum: Checksum | None) -> tuple[str, ...]:
    """The checksum a streamed copy computes again (a whole-object one; composites describe parts)."""
    return (checksum.algorithm,) if checksum is not None and checksum.type == "FULL_OBJECT" else ()


def _inline_data(obj: ObjectInfo) -> bytes | None:
    """The inline bytes of a small simple object (copied by value: they live in its row)."""
    if len(obj.extents) == 1 and obj.extents[0].data is not None and not obj.parts:
        return obj.extents[0].data
    return None


def _entry_key(entry: ObjectEntry) -> str:
    return entry.key


def _container_name(info: ContainerInfo) -> str:
    return info.name
