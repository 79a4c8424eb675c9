"""S3 multipart uploads: parts are blobs as they arrive; completion builds the object from them.

Completion copies no data: the object's extents reference the parts' blobs (the same mechanism as
Swift static large objects), and parts not used are freed with the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import ParamSpec, TypeVar

from stackbox.storage.blob_backend import BlobBackend, BlobWriter
from stackbox.storage.checksums import combine_full_object, composite
from stackbox.storage.ingest import receive
from stackbox.storage.keys import KeyService
from stackbox.storage.listing import initial_range
from stackbox.storage.metadata import Catalog
from stackbox.storage.quotas import Quota
from stackbox.storage.records import ContainerRef, NewObject
from stackbox.storage.sealing import data_key_of, refuse_stray_customer_key, seal
from stackbox.storage.space import disk_full_refused
from stackbox.storage.types import (
    DEFAULT_ATTRS,
    NO_CHECKS,
    NO_PRECONDITIONS,
    Checksum,
    ChecksumType,
    EntityTooSmall,
    Extent,
    InvalidPart,
    InvalidPartOrder,
    NoSuchUpload,
    ObjectAttrs,
    ObjectInfo,
    ObjectPart,
    PartInfo,
    Preconditions,
    UploadInfo,
    UploadListing,
    WriteChecks,
)
from stackbox.storage.upload_records import PartsChanged, StoredParts

P = ParamSpec("P")
T = TypeVar("T")

_CRCS = ("crc32", "crc32c", "crc64nvme")
#: Completions retried when a part is uploaded again meanwhile, before giving up with InvalidPart.
_COMPLETION_ATTEMPTS = 3


class MultipartOperations:
    """The multipart half of `Engine` (a base class so that front ends see one object)."""

    _catalog: Catalog
    _blobs: BlobBackend
    _keys: KeyService

    def _writable(self, account: str, container: str, key: str, preconditions: Preconditions) -> ContainerRef:
        raise NotImplementedError

    async def _make_room(self, incoming: int) -> None:
        raise NotImplementedError

    async def _commit_blob(self, writer: BlobWriter) -> None:
        raise NotImplementedError

    def _delete_blob(self, blob_id: str) -> None:
        raise NotImplementedError

    def _maybe_purge(self) -> None:
        raise NotImplementedError

    async def _purge_if_due(self) -> None:
        raise NotImplementedError

    async def offload(self, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        raise NotImplementedError

    def quota(self, account: str, container: str) -> Quota | None:
        raise NotImplementedError

    def head_object(self, account: str, container: str, key: str) -> ObjectInfo:
        raise NotImplementedError

    def read(self, obj: ObjectInfo, start: int = 0, end: int | None = None, *,
             customer_key: bytes | None = None) -> AsyncIterator[bytes]:
        raise NotImplementedError

    def create_upload(self, account: str, container: str, key: str, attrs: ObjectAttrs = DEFAULT_ATTRS, *,
                      checksum_algorithm: str | None = None,
                      checksum_type: ChecksumType | None = None, initiator: str | None = None) -> UploadInfo:
        """Start an upload; `attrs` apply to the object on completion. Parts are checksummed with
        `checksum_algorithm` (if any); `checksum_type` says how the object's checksum is derived;
        `initiator` is kept for the front end's access rules. With `attrs.encryption` the upload gets
        a data key that encrypts every part (SSE-C: each part must bring the same customer key)."""
        ref = self._writable(account, container, key, NO_PRECONDITIONS)
        sealing = None if attrs.encryption is None else seal(self._keys, attrs.encryption)[0]
        attrs = dataclasses.replace(attrs, encryption=None, sealing=None)
        if checksum_algorithm is not None and checksum_type is None:
            checksum_type = "FULL_OBJECT" if checksum_algorithm in _CRCS else "COMPOSITE"
        # Time-ordered ids: uploads of one key list in initiation order, as in S3.
        upload_id = f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"
        upload = UploadInfo(upload_id, account, container, key, time.time(), attrs,
                            checksum_algorithm, checksum_type, initiator, sealing)
        self._catalog.add_upload(ref.id, upload)
        return upload

    def get_upload(self, account: str, container: str, upload_id: str) -> UploadInfo:
        ref = self._catalog.container_ref(account, container)
        upload = self._catalog.upload(ref.id, account, container, upload_id)
        if upload is None:
            raise NoSuchUpload(upload_id)
        return upload

    async def put_part(self, account: str, container: str, upload_id: str, number: int,
                       body: AsyncIterator[bytes], checks: WriteChecks = NO_CHECKS, *,
                       customer_key: bytes | None = None) -> PartInfo:
        """Store one part (replacing an earlier part with the same number). The upload's checksum
        algorithm is always computed; `checks` verify length, MD5 and checksums as in `put_object`.
        An encrypted upload's part is encrypted with its data key (the key errors of `read` first)."""
        upload = await self.offload(self.get_upload, account, container, upload_id)
        data_key = self._part_key(upload, customer_key)
        algorithms = tuple(dict.fromkeys((*filter(None, [upload.checksum_algorithm]), *checks.algorithms)))
        checks = dataclasses.replace(checks, algorithms=algorithms)
        await self._make_room(checks.length or 0)
        with disk_full_refused():
            return await self._store_part(upload_id, upload, number, body, checks, data_key)

    def _part_key(self, upload: UploadInfo, customer_key: bytes | None) -> bytes | None:
        if upload.sealing is None:
            refuse_stray_customer_key(None, customer_key)
            return None
        return data_key_of(self._keys, upload.sealing, customer_key)

    async def _store_part(self, upload_id: str, upload: UploadInfo, number: int, body: AsyncIterator[bytes],
                          checks: WriteChecks, data_key: bytes | None = None) -> PartInfo:
        received = await receive(self._blobs, body, checks, inline_limit=-1, data_key=data_key)
        assert received.writer is not None
        writer = received.writer
        await self._commit_blob(writer)
        try:
            checksum = received.checksums.get(upload.checksum_algorithm or "")
            part = PartInfo(number, received.size, received.md5_hex, time.time(), checksum)
            await self.offload(self._catalog.add_part, upload_id, part, writer.blob_id)
        except asyncio.CancelledError:
            # A remote catalog's add_part goes on in its thread and may be applied: the blob stays
            # (unreferenced, recovery collects it; deleted, the part would point at nothing).
            raise
        except BaseException:
            self._delete_blob(writer.blob_id)
            raise
        await self._purge_if_due()
        return part

    async def upload_part_copy(self, account: str, container: str, upload_id: str, number: int,
                               source: ObjectInfo, start: int = 0, end: int | None = None, *,
                               source_key: bytes | None = None,
                               customer_key: bytes | None = None) -> PartInfo:
        """A part made of bytes [start, end) of an existing object (these bytes are copied: decrypted
        with the source's key, `source_key` for SSE-C, and encrypted with the upload's)."""
        body = self.read(source, start, end, customer_key=source_key)
        return await self.put_part(account, container, upload_id, number, body, customer_key=customer_key)

    def list_parts(self, account: str, container: str, upload_id: str, *, marker: int = 0,
                   limit: int = 1000) -> tuple[list[PartInfo], bool]:
        """Parts numbered above `marker`, ascending; and whether more follow."""
        self.get_upload(account, container, upload_id)
        return self._catalog.parts(upload_id, marker, limit)

    def list_uploads(self, account: str, container: str, *, prefix: str = "", delimiter: str = "",
                     key_marker: str = "", upload_id_marker: str = "", limit: int = 1000) -> UploadListing:
        """Uploads in (key, initiation order of ids) order after the markers, S3 style."""
        ref = self._catalog.container_ref(account, container)
        scan = _UploadScan(prefix, delimiter, limit)
        after = _resume_after(prefix, delimiter, key_marker, upload_id_marker)
        while not scan.done:
            batch = self._catalog.uploads(ref.id, account, container, prefix, after, 1000)
            after = scan.feed(batch, after)
        return scan.result()

    def abort_upload(self, account: str, container: str, upload_id: str) -> None:
        self.get_upload(account, container, upload_id)
        self._catalog.abort_upload(upload_id, time.time())
        self._maybe_purge()

    def complete_upload(self, account: str, container: str, upload_id: str,
                        parts: Sequence[tuple[int, str]], *, etag: str | None = None,
                        checksum: Checksum | None = None, preconditions: Preconditions = NO_PRECONDITIONS,
                        min_part_size: int = 0) -> ObjectInfo:
        """Assemble the object from the listed (number, etag) parts without copying data.

        `etag` defaults to S3's `<md5 of the parts' md5s>-N`; `checksum` defaults to one derived from
        the parts' checksums (FULL_OBJECT CRCs combined, or COMPOSITE). Raises InvalidPartOrder,
        InvalidPart, EntityTooSmall (a part but the last below `min_part_size`), NoSuchUpload,
        PreconditionFailed.
        """
        upload = self.get_upload(account, container, upload_id)
        ref = self._catalog.container_ref(account, container)
        assemble = partial(_assemble, upload, parts, etag=etag, checksum=checksum,
                           min_part_size=min_part_size, quota=self.quota(account, container))
        for _ in range(_COMPLETION_ATTEMPTS - 1):
            with contextlib.suppress(PartsChanged):
                return self._complete_once(ref, upload, assemble, preconditions)
        return self._complete_once(ref, upload, assemble, preconditions)

    def _complete_once(self, ref: ContainerRef, upload: UploadInfo,
                       assemble: Callable[[StoredParts], NewObject],
                       preconditions: Preconditions) -> ObjectInfo:
        # Reading and checking up to 10,000 parts happens before the write lock is taken; the commit
        # only checks that the parts read are still the upload's.
        stored, fingerprint = self._catalog.stored_parts(upload.upload_id)
        new = assemble(stored)
        return self._catalog.finish_upload(ref, upload.upload_id, upload.key, new, fingerprint, preconditions,
                                           time.time())

    def expire_uploads(self, older_than: float) -> int:
        """Abort every upload initiated before `older_than` (epoch seconds); returns how many."""
        ids = self._catalog.uploads_initiated_before(older_than)
        now = time.time()
        for upload_id in ids:
            self._catalog.abort_upload(upload_id, now)
        self._maybe_purge()
        return len(ids)


def _assemble(upload: UploadInfo, requested: Sequence[tuple[int, str]], stored: StoredParts, *,
              etag: str | None, checksum: Checksum | None, min_part_size: int,
              quota: Quota | None) -> NewObject:
    chosen = _choose_parts(requested, stored, min_part_size)
    return NewObject(
        size=sum(part.size for part, _ in chosen),
        etag=etag or _multipart_etag([part.etag for part, _ in chosen]),
        attrs=dataclasses.replace(upload.attrs, sealing=upload.sealing),
        checksum=checksum or _derived_checksum(upload, [part for part, _ in chosen]),
        parts=[ObjectPart(part.number, part.size, part.etag, part.checksum) for part, _ in chosen],
        extents=[Extent(blob_id, 0, part.size) for part, blob_id in chosen],
        quota=quota)


def _choose_parts(requested: Sequence[tuple[int, str]], stored: StoredParts,
                  min_part_size: int) -> list[tuple[PartInfo, str]]:
    if not requested:
        raise InvalidPart(0)
    numbers = [number for number, _ in requested]
    if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
        raise InvalidPartOrder("parts must be listed in ascending order")
    chosen: list[tuple[PartInfo, str]] = []
    for number, etag in requested:
        found = stored.get(number)
        if found is None or found[0].etag != etag.strip().strip('"'):
            raise InvalidPart(number)
        chosen.append(found)
    for part, _ in chosen[:-1]:
        if part.size < min_part_size:
            raise EntityTooSmall(part.number)
    return chosen


def _multipart_etag(part_etags: Sequence[str]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(etag) for etag in part_etags), usedforsecurity=False)
    return f"{digest.hexdigest()}-{len(part_etags)}"


def _derived_checksum(upload: UploadInfo, parts: Sequence[PartInfo]) -> Checksum | None:
    algorithm = upload.checksum_algorithm
    values = [part.checksum for part in parts]
    if algorithm is None or any(value is None for value in values):
        return None
    present = [value for value in values if value is not None]
    if upload.checksum_type == "FULL_OBJECT":
        combined = combine_full_object(algorithm, zip(present, (part.size for part in parts), strict=True))
        return Checksum(algorithm, combined, "FULL_OBJECT")
    return Checksum(algorithm, composite(algorithm, present), "COMPOSITE", tuple(present))


def _resume_after(prefix: str, delimiter: str, key_marker: str, upload_id_marker: str) -> tuple[str, str]:
    """The (key, upload id) a page starts after. A key marker naming a common prefix (the last entry
    of the previous page) resumes past every key under it, or that prefix would be listed again."""
    if upload_id_marker:
        return key_marker, upload_id_marker
    start = initial_range(prefix, delimiter, key_marker, "", reverse=False)
    if start is not None and start.lower is not None and start.lower_inclusive and start.lower > key_marker:
        return start.lower, ""
    return key_marker, "\U0010ffff"


class _UploadScan:
    """Rolls uploads up into common prefixes and stops after `limit` entries (S3's rules)."""

    def __init__(self, prefix: str, delimiter: str, limit: int) -> None:
        self.prefix = prefix
        self.delimiter = delimiter
        self.limit = limit
        self.uploads: list[UploadInfo] = []
        self.prefixes: list[str] = []
        self.truncated = False
        self.done = limit <= 0
        self.last: tuple[str, str] | None = None

    def feed(self, batch: list[UploadInfo], after: tuple[str, str]) -> tuple[str, str]:
        for upload in batch:
            if not upload.key.startswith(self.prefix):
                self.done = True
                return after
            if self._rolls_into_last_prefix(upload.key):
                after = (upload.key, upload.upload_id)
                continue
            if self._full():
                self.truncated = self.done = True
                return after
            self._add(upload)
            after = (upload.key, upload.upload_id)
        if len(batch) < 1000:
            self.done = True
        return after

    def _rolls_into_last_prefix(self, key: str) -> bool:
        if not self.prefixes or self.last != (self.prefixes[-1], ""):
            return False
        return key.startswith(self.prefixes[-1])

    def _full(self) -> bool:
        return len(self.uploads) + len(self.prefixes) >= self.limit

    def _add(self, upload: UploadInfo) -> None:
        found = upload.key.find(self.delimiter, len(self.prefix)) if self.delimiter else -1
        if found < 0:
            self.uploads.append(upload)
            self.last = (upload.key, upload.upload_id)
            return
        rolled = upload.key[: found + len(self.delimiter)]
        if not self.prefixes or self.prefixes[-1] != rolled:
            self.prefixes.append(rolled)
        self.last = (rolled, "")

    def result(self) -> UploadListing:
        key_marker, id_marker = self.last if (self.truncated and self.last) else (None, None)
        return UploadListing(self.uploads, self.prefixes, self.truncated, key_marker, id_marker or None)
