"""The storage contract: what a front end may ask of the store, as a `typing.Protocol`.

Every call that may touch the metadata catalog is a coroutine: on a network database (PostgreSQL,
issue 12) it is a round trip, which must not hold the event loop. `read` starts a stream (an async
iterator) and `check_encryption_key` only compares keys, so both stay plain calls.

`async_store.AsyncStore` implements it over `engine.Engine`, whose methods (synchronous for
metadata) document the semantics and errors; the values and exceptions are those of
`stackbox.storage.types`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from stackbox.storage.types import (
    NO_CHECKS,
    NO_PRECONDITIONS,
    AccountInfo,
    Checksum,
    ChecksumType,
    ContainerInfo,
    ContainerListing,
    Deletion,
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


class ObjectStore(Protocol):
    # ------------------------------------------------------------------ accounts and containers
    async def get_account(self, account: str) -> AccountInfo: ...

    async def update_account_meta(self, account: str, updates: Mapping[str, str],
                                  remove: Iterable[str] = (), check: MetaCheck | None = None) -> None: ...

    async def list_containers(self, account: str, *, prefix: str = "", delimiter: str = "", marker: str = "",
                              end_marker: str = "", limit: int = 10_000,
                              reverse: bool = False) -> ContainerListing: ...

    async def create_container(self, account: str, name: str,
                               meta: Mapping[str, str] | None = None) -> bool: ...

    async def get_container(self, account: str, name: str) -> ContainerInfo: ...

    async def container_meta(self, account: str, name: str) -> Mapping[str, str]:
        """Cached per worker: the request path's read (authorization, CORS headers, lifecycle
        expiration); on another node it may be milliseconds behind a completed write."""
        ...

    async def read_container_meta(self, account: str, name: str) -> Mapping[str, str]:
        """Queried every time: a read of a configuration (GetBucketCors, GetBucketAcl, ...) shows the
        caller's completed write, whichever node answers."""
        ...

    def cached_container_meta(self, account: str, name: str) -> Mapping[str, str] | None:
        """`container_meta` if this worker has it cached (no query, no wait), else None."""
        ...

    async def container_accounts(self, name: str) -> list[str]: ...

    async def update_container_meta(self, account: str, name: str, updates: Mapping[str, str],
                                    remove: Iterable[str] = (),
                                    check: MetaCheck | None = None) -> ContainerInfo: ...

    async def delete_container(self, account: str, name: str) -> None: ...

    async def set_versioning(self, account: str, container: str, state: Versioning) -> None: ...

    # ------------------------------------------------------------------ listings
    async def list_objects(self, account: str, container: str, *, prefix: str = "", delimiter: str = "",
                           marker: str = "", end_marker: str = "", limit: int = 1000,
                           reverse: bool = False) -> ObjectListing: ...

    async def list_object_versions(self, account: str, container: str, *, prefix: str = "",
                                   delimiter: str = "", key_marker: str = "", version_id_marker: str = "",
                                   limit: int = 1000, reverse: bool = False) -> VersionListing: ...

    async def current_meta(self, account: str, container: str,
                           keys: Sequence[str]) -> dict[str, dict[str, str]]: ...

    # ------------------------------------------------------------------ objects and versions
    async def head_object(self, account: str, container: str, key: str,
                          version_id: str | None = None) -> ObjectInfo: ...

    async def get_object(self, account: str, container: str, key: str,
                         version_id: str | None = None) -> ObjectInfo: ...

    async def put_object(self, account: str, container: str, key: str, body: AsyncIterator[bytes], *,
                         attrs: ObjectAttrs = ..., checks: WriteChecks = NO_CHECKS,
                         preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo: ...

    def read(self, obj: ObjectInfo, start: int = 0, end: int | None = None, *,
             customer_key: bytes | None = None) -> AsyncIterator[bytes]: ...

    def check_encryption_key(self, obj: ObjectInfo, customer_key: bytes | None) -> None: ...

    async def update_object(self, account: str, container: str, key: str, **changes: Any) -> ObjectInfo: ...

    async def update_version(self, account: str, container: str, key: str, version_id: str | None,
                             changes: Mapping[str, Any]) -> ObjectInfo: ...

    async def delete_object(self, account: str, container: str, key: str,
                            preconditions: Preconditions = NO_PRECONDITIONS) -> bool: ...

    async def remove_object(self, account: str, container: str, key: str,
                            preconditions: Preconditions = NO_PRECONDITIONS) -> bool: ...

    async def delete(self, account: str, container: str, key: str, *, version_id: str | None = None,
                     preconditions: Preconditions = NO_PRECONDITIONS,
                     bypass_governance: bool = False) -> Deletion: ...

    async def copy_object(self, src_account: str, src_container: str, src_key: str, dst_account: str,
                          dst_container: str, dst_key: str, *, attrs: ObjectAttrs | None = None,
                          source_etag: str | None = None, source_version: str | None = None,
                          preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo: ...

    async def copy_encrypted(self, source: ObjectInfo, dst_account: str, dst_container: str, dst_key: str, *,
                             attrs: ObjectAttrs, source_version: str | None = None,
                             source_key: bytes | None = None,
                             preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo: ...

    async def put_manifest_object(self, account: str, container: str, key: str,
                                  segments: Sequence[SegmentRef], *,
                                  attrs: ObjectAttrs, etag: str | None = None,
                                  preconditions: Preconditions = NO_PRECONDITIONS) -> ObjectInfo: ...

    # ------------------------------------------------------------------ object lock
    async def create_locked_container(self, account: str, name: str,
                                      meta: Mapping[str, str] | None = None) -> bool: ...

    async def get_lock_configuration(self, account: str, container: str) -> LockConfiguration | None: ...

    async def read_lock_configuration(self, account: str, container: str) -> LockConfiguration | None:
        """`get_lock_configuration` queried every time (as `read_container_meta`)."""
        ...

    async def put_lock_configuration(self, account: str, container: str,
                                     config: LockConfiguration) -> None: ...

    async def set_object_lock(self, account: str, container: str, key: str, version_id: str | None,
                              changes: Mapping[str, Any], *,
                              bypass_governance: bool = False) -> ObjectLock: ...

    async def lock_state(self, account: str, container: str, key: str,
                         version_id: str | None = None) -> ObjectLock: ...

    # ------------------------------------------------------------------ multipart uploads
    async def create_upload(self, account: str, container: str, key: str, attrs: ObjectAttrs = ..., *,
                            checksum_algorithm: str | None = None, checksum_type: ChecksumType | None = None,
                            initiator: str | None = None) -> UploadInfo: ...

    async def get_upload(self, account: str, container: str, upload_id: str) -> UploadInfo: ...

    async def put_part(self, account: str, container: str, upload_id: str, number: int,
                       body: AsyncIterator[bytes], checks: WriteChecks = NO_CHECKS, *,
                       customer_key: bytes | None = None) -> PartInfo: ...

    async def upload_part_copy(self, account: str, container: str, upload_id: str, number: int,
                               source: ObjectInfo, start: int = 0, end: int | None = None, *,
                               source_key: bytes | None = None,
                               customer_key: bytes | None = None) -> PartInfo: ...

    async def list_parts(self, account: str, container: str, upload_id: str, *, marker: int = 0,
                         limit: int = 1000) -> tuple[list[PartInfo], bool]: ...

    async def list_uploads(self, account: str, container: str, *, prefix: str = "", delimiter: str = "",
                           key_marker: str = "", upload_id_marker: str = "",
                           limit: int = 1000) -> UploadListing: ...

    async def abort_upload(self, account: str, container: str, upload_id: str) -> None: ...

    async def complete_upload(self, account: str, container: str, upload_id: str,
                              parts: Sequence[tuple[int, str]], *, etag: str | None = None,
                              checksum: Checksum | None = None,
                              preconditions: Preconditions = NO_PRECONDITIONS,
                              min_part_size: int = 0) -> ObjectInfo: ...

    # ------------------------------------------------------------------ housekeeping
    async def reap_expired(self, now: float | None = None, limit: int = 1000) -> int: ...

    async def expire_uploads(self, older_than: float) -> int: ...

    async def collect_garbage(self, grace: float = ...) -> int: ...

    def close(self) -> None: ...


if TYPE_CHECKING:
    from stackbox.storage.async_store import AsyncStore

    def _async_store_keeps_the_contract(store: AsyncStore) -> ObjectStore:
        return store  # mypy checks that AsyncStore provides every method with these signatures
