"""The storage engine's vocabulary: what front ends pass in, what they get back, and what can go wrong.

Everything here is protocol-neutral. Front ends translate S3 / Swift requests into these values and
map the exceptions to their own error responses. Conventions:

- Times are float seconds since the epoch (`last_modified`, `created`); `delete_at` is an int epoch.
- Etags are stored as given, without quotes (hex MD5 for simple objects, e.g. `<md5>-3` for multipart).
- Checksum algorithm names are lowercase: `crc32`, `crc32c`, `crc64nvme`, `sha1`, `sha256`; values
  are base64 of the big-endian digest, as S3 sends them.
- Metadata dicts (`meta` of accounts / containers / objects) are plain `str -> str`; the front ends
  choose the key namespaces (e.g. `meta:color`, `sys:read_acl`, `s3:acl`) and the engine never looks
  inside them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

ManifestType = Literal["slo", "dlo"]
ChecksumType = Literal["FULL_OBJECT", "COMPOSITE"]
#: Checks an account's or container's metadata as an update would leave it, inside the update's
#: transaction (so concurrent updates cannot each pass and add up past a limit); raises to refuse it.
MetaCheck = Callable[[Mapping[str, str]], None]
#: A container's versioning state, as S3 defines it: "unversioned" until versioning is first
#: enabled, then "enabled" or "suspended" (it never returns to "unversioned").
Versioning = Literal["unversioned", "enabled", "suspended"]

#: S3 Object Lock retention modes: GOVERNANCE can be lifted by whoever may bypass it, COMPLIANCE by no one.
LockMode = Literal["GOVERNANCE", "COMPLIANCE"]

#: How an object's data is encrypted at rest: S3's SSE-S3 (`AES256`), SSE-KMS (`aws:kms`) or SSE-C.
SseMode = Literal["AES256", "aws:kms", "SSE-C"]

#: The id of S3's `null` version: the one an unversioned or suspended container writes.
NULL_VERSION = "null"

MAX_KEY_BYTES = 1024


# ---------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Checksum:
    """An object's (or part's) additional checksum, as S3 reports it."""

    algorithm: str
    value: str
    type: ChecksumType = "FULL_OBJECT"
    #: For COMPOSITE multipart checksums: the per-part base64 values in part order.
    part_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Extent:
    """A slice of an object's data: `length` bytes at `offset` of blob `blob_id`, or literal `data`."""

    blob_id: str | None
    offset: int
    length: int
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class ObjectPart:
    """One part of an object assembled by `complete_upload` (kept for `partNumber` reads and attributes)."""

    number: int
    size: int
    etag: str
    checksum: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectLock:
    """A version's S3 Object Lock state: a retention (mode and retain-until time) and a legal hold."""

    mode: LockMode | None = None
    retain_until: float | None = None
    legal_hold: bool = False

    def retained(self, now: float) -> bool:
        return self.mode is not None and self.retain_until is not None and self.retain_until > now

    def protects(self, now: float, *, bypass_governance: bool = False) -> bool:
        """Whether the version may not be deleted now (lifecycle asks without bypass)."""
        if self.legal_hold:
            return True
        return self.retained(now) and not (bypass_governance and self.mode == "GOVERNANCE")


NO_LOCK = ObjectLock()


@dataclass(frozen=True, slots=True)
class LockConfiguration:
    """A container's Object Lock configuration: lock is on, with an optional default retention
    (a mode and a period in days or in years) that new versions written without one get."""

    default_mode: LockMode | None = None
    default_days: int | None = None
    default_years: int | None = None

    def default_lock(self, now: float) -> ObjectLock | None:
        days = self.default_days if self.default_days is not None else (self.default_years or 0) * 365
        if self.default_mode is None or days <= 0:
            return None
        return ObjectLock(self.default_mode, now + days * 86400.0)


@dataclass(frozen=True, slots=True)
class Encryption:
    """How a writer asks for new data to be encrypted (never stored: the customer key must not be)."""

    mode: SseMode
    #: aws:kms: the key service's key (id, `alias/<name>` or an ARN, as sent); None: the default key.
    kms_key_id: str | None = None
    #: aws:kms: the encryption context as sent (base64 of a JSON object); it is bound to the wrapped key.
    context: str | None = None
    bucket_key: bool = False
    #: SSE-C: the customer's 32-byte key.
    customer_key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Sealing:
    """How a stored object's data is encrypted: what a read needs (with SSE-C, the customer's key too)
    to recover the object's data key. Stored with the object; holds no secret in the clear."""

    mode: SseMode
    #: AES256 / aws:kms: the key service's key id that wraps the data key; None for SSE-C.
    key_id: str | None
    #: The object's data key, encrypted by the key-encryption key (or by the customer's key).
    wrapped_key: bytes = field(repr=False)
    context: str | None = None
    bucket_key: bool = False
    #: SSE-C: salt and HMAC-SHA256 of the customer's key under it (proves a key without storing it).
    key_proof: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ObjectAttrs:
    """What a writer sets on an object besides its data."""

    content_type: str = "application/octet-stream"
    #: User metadata (`x-amz-meta-*` / `X-Object-Meta-*`), names as the front end normalises them.
    meta: Mapping[str, str] = field(default_factory=dict)
    #: Content-Encoding, Content-Disposition, Content-Language, Cache-Control, Expires (names as given).
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    acl: str | None = None
    delete_at: int | None = None
    #: Swift DLO objects: `manifest_type="dlo"` and `manifest=b"<container>/<prefix>"`.
    manifest_type: ManifestType | None = None
    manifest: bytes | None = None
    #: S3 Object Lock of the new version (None: the container's default retention, if any).
    lock: ObjectLock | None = None
    #: Encrypt the data at rest (None: as is). Copies keep the source's encryption unless this is set.
    encryption: Encryption | None = None
    #: Set by the engine only: how the data is encrypted (writers' values are ignored).
    sealing: Sealing | None = None


@dataclass(frozen=True, slots=True)
class WriteChecks:
    """What to compute and verify while a body streams in.

    `expected_checksums` may be a callable: it is called once the body is exhausted, which is how
    values sent in HTTP trailers (after the data) are checked before anything is committed.
    """

    #: Declared body length; a different received length raises `IncompleteBody`.
    length: int | None = None
    #: Upper bound on the body; exceeding it raises `EntityTooLarge` as soon as it happens.
    max_length: int | None = None
    #: Hex MD5 the body must have (Content-MD5 decoded, or Swift's Etag header); else `BadDigest`.
    md5_hex: str | None = None
    #: Extra checksums to compute. The first one is stored as the object's checksum.
    algorithms: tuple[str, ...] = ()
    #: algorithm -> expected base64 value; a mismatch raises `ChecksumMismatch`.
    expected_checksums: Mapping[str, str] | Callable[[], Mapping[str, str]] = field(default_factory=dict)
    #: Algorithms (among `algorithms`) whose values the caller computes over the same body itself
    #: (the S3 signature layer does, to verify a checksum header or trailer): the engine does not
    #: compute them again but takes them from `provided_checksums` once the body is exhausted.
    provided_algorithms: tuple[str, ...] = ()
    provided_checksums: Callable[[], Mapping[str, str]] | None = None


@dataclass(frozen=True, slots=True)
class Preconditions:
    """Conditions checked atomically with the write (conditional PUT / CompleteMultipartUpload / DELETE)."""

    #: `If-None-Match: *`: fail if the object exists.
    if_none_match_star: bool = False
    #: `If-Match: <etag>` (or `*`): NoSuchObject if there is no current object, PreconditionFailed
    #: unless it has this etag (quotes are ignored).
    if_match_etag: str | None = None
    #: S3's `x-amz-if-match-size` / `-last-modified-time` (DeleteObject): PreconditionFailed unless
    #: the current object has this size / was last modified in this very second; no object holds both.
    if_match_size: int | None = None
    if_match_modified: int | None = None

    @property
    def any(self) -> bool:
        return self != NO_PRECONDITIONS

    def check(self, current: tuple[str, int, float] | None) -> None:
        """Raise unless they hold for the current live object (etag, size, last modified), or None."""
        if current is None:
            if self.if_match_etag is not None:
                raise NoSuchObject("no current object to match")
            return
        etag, size, modified = current
        if self.if_none_match_star:
            raise PreconditionFailed("the object exists")
        wanted = self.if_match_etag
        if wanted is not None and wanted.strip().strip('"') not in (etag, "*"):
            raise PreconditionFailed("the object's etag differs")
        if self.if_match_size is not None and self.if_match_size != size:
            raise PreconditionFailed("the object's size differs")
        if self.if_match_modified is not None and self.if_match_modified != int(modified):
            raise PreconditionFailed("the object's modification time differs")


NO_PRECONDITIONS = Preconditions()
DEFAULT_ATTRS = ObjectAttrs()
NO_CHECKS = WriteChecks()


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A stored object's metadata, as returned by reads and writes."""

    account: str
    container: str
    key: str
    size: int
    etag: str
    content_type: str
    last_modified: float
    meta: Mapping[str, str]
    headers: Mapping[str, str]
    tags: Mapping[str, str]
    acl: str | None
    delete_at: int | None
    checksum: Checksum | None
    manifest_type: ManifestType | None
    #: The manifest document the front end stored (SLO JSON, DLO `container/prefix`).
    manifest: bytes | None
    #: Parts of an object made by `complete_upload`, in order; empty otherwise.
    parts: tuple[ObjectPart, ...]
    extents: tuple[Extent, ...] = field(repr=False)
    #: The version's id: None in a container that was never versioned (its objects are the `null`
    #: version, which S3 does not name there), NULL_VERSION or an opaque id otherwise.
    version_id: str | None = None
    #: Only in `Catalog.find_version` answers; the engine raises for delete markers instead.
    delete_marker: bool = False
    lock: ObjectLock = NO_LOCK
    #: How the data is encrypted at rest (None: it is not).
    sealing: Sealing | None = None


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """One version (or delete marker) in a version listing: keys ascending, newest version first."""

    key: str
    #: NULL_VERSION for the null version, else an opaque id (32 lowercase hex digits).
    version_id: str
    latest: bool
    delete_marker: bool
    size: int
    etag: str
    content_type: str
    last_modified: float
    manifest_type: ManifestType | None


@dataclass(frozen=True, slots=True)
class VersionListing:
    versions: list[VersionEntry]
    #: Common prefixes (with a delimiter), in key order with `versions`.
    prefixes: list[str]
    truncated: bool
    #: Where the next page starts (None when not truncated): the last key or prefix returned, and
    #: the last version id returned (None after a prefix).
    next_key_marker: str | None
    next_version_id_marker: str | None


@dataclass(frozen=True, slots=True)
class Deletion:
    """What a delete did."""

    #: A live object was current before (for a delete by version id: the version existed).
    existed: bool
    #: The delete marker made, or the version deleted by id; None in an unversioned container.
    version_id: str | None
    #: A delete marker was made (or, deleting by version id, the version deleted was one).
    delete_marker: bool


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    """One object in a listing (only what listings show, read from the index)."""

    key: str
    size: int
    etag: str
    content_type: str
    last_modified: float
    manifest_type: ManifestType | None


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    account: str
    name: str
    created: float
    meta: Mapping[str, str]
    object_count: int
    bytes_used: int
    #: When an object or the metadata last changed (Swift's account listings show it).
    last_modified: float
    versioning: Versioning = "unversioned"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    name: str
    #: 0.0 for an account nothing was ever written to (accounts are created implicitly).
    created: float
    meta: Mapping[str, str]
    container_count: int
    object_count: int
    bytes_used: int


@dataclass(frozen=True, slots=True)
class ObjectListing:
    objects: list[ObjectEntry]
    #: Common prefixes (with a delimiter), interleaved with `objects` in listing order by key.
    prefixes: list[str]
    truncated: bool
    #: The last key or prefix returned, to pass as `marker` for the next page (None when not truncated).
    next_marker: str | None


@dataclass(frozen=True, slots=True)
class ContainerListing:
    containers: list[ContainerInfo]
    prefixes: list[str]
    truncated: bool
    next_marker: str | None


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """An S3 multipart upload in progress."""

    upload_id: str
    account: str
    container: str
    key: str
    initiated: float
    attrs: ObjectAttrs
    #: The checksum algorithm the parts are checksummed with (None: MD5 only).
    checksum_algorithm: str | None
    checksum_type: ChecksumType | None
    #: Who started it (a user id, or "anonymous"); None for uploads older than this field.
    initiator: str | None = None
    #: How its parts are encrypted (every part with the upload's data key); None: they are not.
    sealing: Sealing | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    number: int
    size: int
    etag: str
    last_modified: float
    checksum: str | None


@dataclass(frozen=True, slots=True)
class UploadListing:
    uploads: list[UploadInfo]
    prefixes: list[str]
    truncated: bool
    next_key_marker: str | None
    next_upload_id_marker: str | None


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """One entry of a Swift static large object manifest, resolved by `put_manifest_object`.

    `start`/`end` select a byte range of the segment (end exclusive); `etag`/`size` (when given)
    must match the segment, else `InvalidSegment`. A segment with `data` is those bytes themselves
    (Swift's inline `data` segments; container and key are then unused).
    """

    container: str
    key: str
    start: int | None = None
    end: int | None = None
    etag: str | None = None
    size: int | None = None
    account: str | None = None
    data: bytes | None = None


# ---------------------------------------------------------------------------------------------- errors


class StorageError(Exception):
    """Base class of every error the engine raises on purpose."""


class NoSuchContainer(StorageError):
    pass


class NoSuchObject(StorageError):
    """No current object by that key. When the current version is a delete marker, `delete_marker`
    is set and `version_id` names it (S3 answers with `x-amz-delete-marker: true`)."""

    def __init__(self, message: str, *, delete_marker: bool = False, version_id: str | None = None) -> None:
        super().__init__(message)
        self.delete_marker = delete_marker
        self.version_id = version_id


class NoSuchVersion(StorageError):
    """A well-formed version id that the key does not have."""


class InvalidVersionId(StorageError):
    """A version id that no version can have (neither NULL_VERSION nor an id the engine makes)."""


class DeleteMarkerVersion(StorageError):
    """A read named a delete marker by its version id (S3 answers 405 MethodNotAllowed)."""

    def __init__(self, version_id: str) -> None:
        super().__init__(f"version {version_id} is a delete marker")
        self.version_id = version_id


class SchemaTooNew(StorageError):
    """The data dir was written by a newer release (its catalog schema is unknown to this one)."""


class ContainerNotEmpty(StorageError):
    pass


class ObjectLocked(StorageError):
    """The version is protected by a retention in force or a legal hold, or a retention change
    would weaken a COMPLIANCE one (or a GOVERNANCE one without bypass): S3's AccessDenied."""


class ObjectLockNotEnabled(StorageError):
    """A lock was asked of a container without Object Lock (S3's InvalidRequest)."""


class LockedVersioning(StorageError):
    """Object Lock and the container's versioning disagree: enabling lock needs versioning enabled,
    and a locked container's versioning cannot be suspended (S3's InvalidBucketState)."""


class InvalidKey(StorageError):
    """An empty object key."""


class KeyTooLong(InvalidKey):
    """An object key longer than 1024 bytes of UTF-8."""


class PreconditionFailed(StorageError):
    pass


class ConditionalConflict(PreconditionFailed):
    """The conditions held when the write began but no longer did when it was committed: another
    write or delete of the object happened meanwhile (S3's 409 ConditionalRequestConflict)."""


class BadDigest(StorageError):
    """The body's MD5 is not the one the client declared."""


class ChecksumMismatch(StorageError):
    def __init__(self, algorithm: str) -> None:
        super().__init__(f"{algorithm} checksum mismatch")
        self.algorithm = algorithm


class UnsupportedChecksum(StorageError):
    def __init__(self, algorithm: str) -> None:
        super().__init__(f"unsupported checksum algorithm {algorithm!r}")
        self.algorithm = algorithm


class IncompleteBody(StorageError):
    """The body's length differs from the declared length (short when the client went away)."""

    def __init__(self, expected: int, received: int) -> None:
        super().__init__(f"expected {expected} bytes, received {received}")
        self.expected = expected
        self.received = received


class EntityTooLarge(StorageError):
    pass


class QuotaExceeded(StorageError):
    """The write would take its container or account past a quota (see `storage.quotas`)."""


class InvalidRange(StorageError):
    pass


class NoSuchUpload(StorageError):
    pass


class InvalidPart(StorageError):
    """A listed part was never uploaded, or its etag differs."""

    def __init__(self, number: int) -> None:
        super().__init__(f"invalid part {number}")
        self.number = number


class InvalidPartOrder(StorageError):
    pass


class EntityTooSmall(StorageError):
    """A part other than the last is smaller than the minimum part size."""

    def __init__(self, number: int) -> None:
        super().__init__(f"part {number} is too small")
        self.number = number


class InvalidSegment(StorageError):
    """A static large object segment is missing or does not match the manifest entry."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"segment {index}: {reason}")
        self.index = index
        self.reason = reason


class ManifestTooLarge(StorageError):
    """A static large object would span more extents than the engine allows once its segments
    (and theirs) are flattened, or reading its segments would take more work than that bound."""


class InsufficientStorage(StorageError):
    """The data dir's file system has too little free space for the write (Swift's 507)."""


class DataUnavailable(StorageError):
    """A blob vanished while being read (the object was overwritten long ago); the read must abort."""


class KeyNotFound(StorageError):
    """An encryption key the key service does not have (S3's KMS.NotFoundException)."""

    def __init__(self, key_ref: str) -> None:
        super().__init__(f"no such key {key_ref!r}")
        self.key_ref = key_ref


class KeyDisabled(StorageError):
    """The key service's key is disabled: it neither encrypts nor decrypts (KMS.DisabledException)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"key {key_id} is disabled")
        self.key_id = key_id


class CustomerKeyRequired(StorageError):
    """The data is encrypted with a customer-provided key (SSE-C) and the request brought none."""


class WrongCustomerKey(StorageError):
    """The customer-provided key is not the one the data was encrypted with."""


class CustomerKeyNotApplicable(StorageError):
    """A customer-provided key was given for data that is not encrypted with one."""


class EncryptedSegment(StorageError):
    """A Swift manifest named a segment encrypted at rest (segments must be plaintext)."""


class DataCorrupted(StorageError):
    """Encrypted data failed authentication (altered, truncated or reordered on disk); the read aborts."""
