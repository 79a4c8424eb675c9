"""The storage contract (`contract.ObjectStore`) for the front ends: `Engine` behind awaitable calls.

    store = AsyncStore(engine)
    info = await store.head_object(account, container, key)

Each metadata call is the `Engine` method of the same name (which documents it), run through
`Engine.offload`: a plain call inside the coroutine while the catalog is local (SQLite: no thread
hop, the speed of a direct call), or on the engine's metadata threads when it is remote, so that a
round trip to the database never holds the event loop. The switch is `Engine.remote_catalog`
(with `Engine.executor_threads`, the size of that pool): False for SQLite; the PostgreSQL catalog
sets it; `Settings.metadata_threads` (STACKBOX_METADATA_THREADS=N) forces it on SQLite, to test and
measure that path. Streaming calls (`put_object`, `put_part`, `delete`, ...) are the engine's own
coroutines, which offload their catalog calls the same way.

The engine keeps its synchronous methods for housekeeping, tools and the storage tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from stackbox.storage.engine import FREED_BLOB_GRACE, Engine
from stackbox.storage.types import (
    DEFAULT_ATTRS,
    NO_CHECKS,
    NO_PRECONDITIONS,
    AccountInfo,
    Checksum,
    ChecksumType,
    ContainerInfo,
    ContainerListing,
    LockConfiguration,
    MetaCheck,
    ObjectAttrs,
    ObjectInfo,
    ObjectListing,
    ObjectLock,
    PartInfo,
    Preconditions,
    SegmentRef,
    UploadInfo,
    UploadListing,
    Versioning,
    VersionListing,
    WriteChecks,
)


class AsyncStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._offload = engine.offload
        #: The catalog is local: the reads every request makes skip `offload`'s coroutine too.
        self._inline = not engine.remote_catalog
        # The writes every request makes are the engine's own coroutines, called without a wrapper.
        self.put_object = engine.put_object
        self.delete = engine.delete
        self.cached_container_meta = engine.cached_container_meta

    @property
    def engine(self) -> Engine:
        """The engine behind (for housekeeping, which runs its own calls)."""
        return self._engine

    async def get_account(self, account: str) -> AccountInfo:
        return await self._offload(self._engine.get_account, account)

    async def update_account_meta(self, account: str, updates: Mapping[str, str],
                                  remove: Iterable[str] = (), check: MetaCheck | None = None) -> None:
        await self._offload(self._engine.update_account_meta, account, updates, remove, check)

    async def list_containers(self, account: str, *, prefix: str = "", delimiter: str = "", marker: str = "",
                              end_marker: str = "", limit: int = 10_000,
                              reverse: bool = False) -> ContainerListing:
        return await self._offload(self._engine.list_containers, account, prefix=prefix, delimiter=delimiter,
                                   marker=marker, end_marker=end_marker, limit=limit, reverse=reverse)

    async def create_container(self, account: str, name: str,
                               meta: Mapping[str, str] | None = None) -> bool:
        return await self._offload(self._engine.create_container, account, name, meta)

    async def get_container(self, account: str, name: str) -> ContainerInfo:
        return await self._offload(self._engine.get_container, account, name)

    async def container_meta(self, account: str, name: str) -> Mapping[str, str]:
        if self._inline:
            return self._engine.container_meta(account, name)
        cached = self._engine.cached_container_meta(account, name)  # no thread hop on a remote catalog
        if cached is not None:
            return cached
        return await self._offload(self._engine.container_meta, account, name)

    async def read_container_meta(self, account: str, name: str) -> Mapping[str, str]:
        return await self._offload(self._engine.read_container_meta, account, name)

    async def container_accounts(self, name: str) -> list[str]:
        return await self._offload(self._engine.container_accounts, name)

    async def update_container_meta(self, account: str, name: str, updates: Mapping[str, str],
                                    remove: Iterable[str] = (),
                                    check: MetaCheck | None = None) -> ContainerInfo:
        return await self._offload(self._engine.update_container_meta, account, name, updates, remove, check)

    async def delete_container(self, account: str, name: str) -> None:
        await self._offload(self._engine.delete_container, account, name)

    async def set_versioning(self, account: str, container: str, state: Versioning) -> None:
        await self._offload(self._engine.set_versioning, account, container, state)

    async def list_objects(self, account: str, container: str, *, prefix: str = "", delimiter: str = "",
                           marker: str = "", end_marker: str = "", limit: int = 1000,
                           reverse: bool = False) -> ObjectListing:
        return await self._offload(self._engine.list_objects, account, container, prefix=prefix,
                                   delimiter=delimiter, marker=marker, end_marker=end_marker, limit=limit,
                                   reverse=reverse)

    async def list_object_versions(self, account: str, container: str, *, prefix: str = "",
                                   delimiter: str = "", key_marker: str = "", version_id_marker: str = "",
                                   limit: int = 1000, reverse: bool = False) -> VersionListing:
        return await self._offload(self._engine.list_object_versions, account, container, prefix=prefix,
                                   delimiter=delimiter, key_marker=key_marker,
                                   version_id_marker=version_id_marker, limit=limit, reverse=reverse)

    async def current_meta(self, account: str, container: str,
                           keys: Sequence[str]) -> dict[str, dict[str, str]]:
        return await self._offload(self._engine.current_meta, account, container, keys)

    async def head_object(self, account: str, container: str, key: str,
                          version_id: str | None = None) -> ObjectInfo:
        if self._inline:
            return self._engine.head_object(account, container, key, version_id)
        return await self._offload(self._engine.head_object, account, container, key, version_id)

    async def get_object(self, account: str, container: str, key: str,
                         version_id: str | None = None) -> ObjectInfo:
        if self._inline:
            return self._engine.get_object(account, container, key, version_id)
        return await self._offload(self._engine.get_object, account, container, key, version_id)

    def read(self, obj: ObjectInfo, start: int = 0, end: int | None = None, *,
             customer_key: bytes | None = None) -> AsyncIterator[bytes]:
        return self._engine.read(obj, start, end, customer_key=customer_key)

    def check_encryption_key(self, obj: ObjectInfo, customer_key: bytes | None) -> None:
        self._engine.check_encryption_key(obj, customer_key)

    async def update_object(self, account: str, container: str, key: str, **changes: Any) -> ObjectInfo:
        return await self._offload(self._engine.update_object, account, container, key, **changes)

    async def update_version(self, account: str, container: str, key: str, version_id: str | None,
                             changes: Mapping[str, Any]) -> ObjectInfo:
        return await self._offload(self._engine.update_version, account, container, key, version_id, changes)

    async def delete_object(self, account: str, container: str, key: str,
                            preconditions: Preconditions = NO_PRECONDITIONS) -> bool:
        return await self._offload(self._engine.delete_object, account, container, key, preconditions)

    async def remove_object(self, account: str, container: str, key: str,
                            preconditions: Preconditions = NO_PRECONDITIONS) -> bool:
        return await self._engine.remove_object(account, container, key, preconditions)

    async def copy_object(self, src_account: str, src_container: str, src_key: str, dst_account: str,
                          dst_container: str, dst_key: str, *, attrs: ObjectAttrs | None = None,
                          source_etag: str | None = None, source_version: str | None = None,
                          preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo:
        return await self._offload(self._engine.copy_object, src_account, src_container, src_key, dst_account,
                                   dst_container, dst_key, attrs=attrs, source_etag=source_etag,
                                   source_version=source_version, preconditions=preconditions)

    async def copy_encrypted(self, source: ObjectInfo, dst_account: str, dst_container: str, dst_key: str, *,
                             attrs: ObjectAttrs, source_version: str | None = None,
                             source_key: bytes | None = None,
                             preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo:
        return await self._engine.copy_encrypted(source, dst_account, dst_container, dst_key, attrs=attrs,
                                                 source_version=source_version, source_key=source_key,
                                                 preconditions=preconditions)

    async def put_manifest_object(self, account: str, container: str, key: str,
                                  segments: Sequence[SegmentRef], *,
                                  attrs: ObjectAttrs, etag: str | None = None,
                                  preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo:
        return await self._offload(self._engine.put_manifest_object, account, container, key, segments,
                                   attrs=attrs, etag=etag, preconditions=preconditions)

    async def create_locked_container(self, account: str, name: str,
                                      meta: Mapping[str, str] | None = None) -> bool:
        return await self._offload(self._engine.create_locked_container, account, name, meta)

    async def get_lock_configuration(self, account: str, container: str) -> LockConfiguration | None:
        cached = self._engine.cached_lock_configuration(account, container)
        if cached is not None:
            return cached[0]
        return await self._offload(self._engine.get_lock_configuration, account, container)

    async def read_lock_configuration(self, account: str, container: str) -> LockConfiguration | None:
        return await self._offload(self._engine.read_lock_configuration, account, container)

    async def put_lock_configuration(self, account: str, container: str,
                                     config: LockConfiguration) -> None:
        await self._offload(self._engine.put_lock_configuration, account, container, config)

    async def set_object_lock(self, account: str, container: str, key: str, version_id: str | None,
                              changes: Mapping[str, Any], *,
                              bypass_governance: bool = False) -> ObjectLock:
        return await self._offload(self._engine.set_object_lock, account, container, key, version_id, changes,
                                   bypass_governance=bypass_governance)

    async def lock_state(self, account: str, container: str, key: str,
                         version_id: str | None = None) -> ObjectLock:
        return await self._offload(self._engine.lock_state, account, container, key, version_id)

    async def create_upload(self, account: str, container: str, key: str,
                            attrs: ObjectAttrs = DEFAULT_ATTRS, *,
                            checksum_algorithm: str | None = None, checksum_type: ChecksumType | None = None,
                            initiator: str | None = None) -> UploadInfo:
        return await self._offload(self._engine.create_upload, account, container, key, attrs,
                                   checksum_algorithm=checksum_algorithm, checksum_type=checksum_type,
                                   initiator=initiator)

    async def get_upload(self, account: str, container: str, upload_id: str) -> UploadInfo:
        return await self._offload(self._engine.get_upload, account, container, upload_id)

    async def put_part(self, account: str, container: str, upload_id: str, number: int,
                       body: AsyncIterator[bytes], checks: WriteChecks = NO_CHECKS, *,
                       customer_key: bytes | None = None) -> PartInfo:
        return await self._engine.put_part(account, container, upload_id, number, body, checks,
                                           customer_key=customer_key)

    async def upload_part_copy(self, account: str, container: str, upload_id: str, number: int,
                               source: ObjectInfo, start: int = 0, end: int | None = None, *,
                               source_key: bytes | None = None,
                               customer_key: bytes | None = None) -> PartInfo:
        return await self._engine.upload_part_copy(account, container, upload_id, number, source, start, end,
                                                   source_key=source_key, customer_key=customer_key)

    async def list_parts(self, account: str, container: str, upload_id: str, *, marker: int = 0,
                         limit: int = 1000) -> tuple[list[PartInfo], bool]:
        return await self._offload(self._engine.list_parts, account, container, upload_id, marker=marker,
                                   limit=limit)

    async def list_uploads(self, account: str, container: str, *, prefix: str = "", delimiter: str = "",
                           key_marker: str = "", upload_id_marker: str = "",
                           limit: int = 1000) -> UploadListing:
        return await self._offload(self._engine.list_uploads, account, container, prefix=prefix,
                                   delimiter=delimiter, key_marker=key_marker,
                                   upload_id_marker=upload_id_marker, limit=limit)

    async def abort_upload(self, account: str, container: str, upload_id: str) -> None:
        await self._offload(self._engine.abort_upload, account, container, upload_id)

    async def complete_upload(self, account: str, container: str, upload_id: str,
                              parts: Sequence[tuple[int, str]], *, etag: str | None = None,
                              checksum: Checksum | None = None,
                              preconditions: Preconditions = NO_PRECONDITIONS,
                              min_part_size: int = 0) -> ObjectInfo:
        return await self._offload(self._engine.complete_upload, account, container, upload_id, parts,
                                   etag=etag, checksum=checksum, preconditions=preconditions,
                                   min_part_size=min_part_size)

    async def reap_expired(self, now: float | None = None, limit: int = 1000) -> int:
        return await self._offload(self._engine.reap_expired, now, limit)

    async def expire_uploads(self, older_than: float) -> int:
        return await self._offload(self._engine.expire_uploads, older_than)

    async def collect_garbage(self, grace: float = FREED_BLOB_GRACE) -> int:
        return await self._offload(self._engine.collect_garbage, grace)

    def close(self) -> None:
        self._engine.close()
