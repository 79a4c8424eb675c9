"""One S3 request as the operation handlers see it: who calls, which bucket and key, and the body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from stackbox.auth import AuthContext
from stackbox.digits import decimal
from stackbox.http import Request, read_limited
from stackbox.s3 import xml
from stackbox.s3.errors import S3Error
from stackbox.s3.signature import AuthResult
from stackbox.storage.types import NoSuchContainer

if TYPE_CHECKING:
    from stackbox.app import Cloud
    from stackbox.storage.contract import ObjectStore

#: Container metadata key holding a bucket's canned ACL.
BUCKET_ACL_META = "s3:acl"
PUBLIC_READ_ACLS = frozenset({"public-read", "public-read-write"})


class Access(Enum):
    """What an operation needs from the caller's role on the bucket's project."""

    NONE = "none"  # ListBuckets: any authenticated caller
    READ = "read"
    WRITE = "write"
    #: The owner's operations (ACLs, tags, location, creating or deleting the bucket): S3 grants them
    #: through no canned ACL (READ_ACP and WRITE_ACP are the owner's), so never to anonymous callers.
    OWNER_READ = "owner-read"
    OWNER_WRITE = "owner-write"

    @property
    def reads(self) -> bool:
        return self in (Access.READ, Access.OWNER_READ)

    @property
    def writes(self) -> bool:
        return self in (Access.WRITE, Access.OWNER_WRITE)


@dataclass(frozen=True, slots=True)
class BucketGrant:
    """Where a bucket is for one caller, and what still limits a read of it."""

    account: str
    #: An anonymous read the bucket ACL did not allow: only a public-read object ACL can allow it.
    needs_object_acl: bool = False


def s3_owner(storage: ObjectStore, bucket: str) -> str | None:
    """The account holding `bucket` in S3's one namespace: its only holder, or the first to create it
    when Swift (whose names are per account) or an older data dir made more; None if no account
    holds it or the first two creations tie."""
    accounts = storage.container_accounts(bucket)
    if len(accounts) < 2:
        return accounts[0] if accounts else None
    created = []
    for account in accounts:
        try:
            created.append((storage.get_container(account, bucket).created, account))
        except NoSuchContainer:  # deleted meanwhile
            continue
    created.sort()
    if not created or (len(created) > 1 and created[0][0] == created[1][0]):
        return None
    return created[0][1]


@dataclass(slots=True)
class S3Call:
    cloud: Cloud
    request: Request
    auth: AuthResult | None
    bucket: str
    key: str
    #: The account that holds `bucket`: the caller's own, or (anonymous callers) the public bucket's.
    account: str = ""
    #: An anonymous read the bucket ACL did not allow: only a public-read object ACL can allow it.
    needs_object_acl: bool = False
    body_started: bool = field(default=False, repr=False)

    @property
    def storage(self) -> ObjectStore:
        return self.cloud.storage

    @property
    def query(self) -> dict[str, str]:
        return self.request.query

    @property
    def headers(self) -> dict[str, str]:
        return self.request.headers

    @property
    def context(self) -> AuthContext | None:
        return self.auth.context if self.auth is not None else None

    @property
    def resource(self) -> str:
        return f"/{self.bucket}/{self.key}" if self.key else f"/{self.bucket}"

    def payload(self) -> AsyncIterator[bytes]:
        """The request body, decoded and verified as it streams (aws-chunked, signatures, checksums)."""
        stream = self._raw_body()
        return stream if self.auth is None else self.auth.body(stream)

    async def _raw_body(self) -> AsyncIterator[bytes]:
        if self.body_started:
            raise RuntimeError("the request body was already consumed")
        self.body_started = True
        async for chunk in self.request.stream():
            yield chunk

    @property
    def body_withheld(self) -> bool:
        """The client waits for `100 Continue` before sending a body we never asked for: the
        connection must close after the response, or the body would be read as the next request."""
        return not self.body_started and "100-continue" in self.headers.get("expect", "").lower()

    @property
    def content_length(self) -> int | None:
        """The payload length the client announced (decoded length for aws-chunked bodies)."""
        if self.auth is not None:
            return self.auth.content_length
        length = self.headers.get("content-length")
        return decimal(length) if length is not None else None

    async def read_body(self, limit: int = xml.MAX_DOCUMENT_BYTES) -> bytes:
        return await read_limited(self.payload(), limit)

    async def read_document(self, root: str) -> Element:
        body = await self.read_body()
        if not body.strip():
            raise S3Error("MalformedXML")
        return xml.parse(body, root)

    def grant(self, bucket: str, access: Access, *, object_read: bool = False) -> BucketGrant:
        """Where `bucket` is for this caller, if it may have `access` (AccessDenied otherwise): the
        caller's own project, or for an anonymous caller the bucket's owner when its canned ACL is
        public. `object_read` is a read of one object, which a public-read object ACL alone may allow."""
        context = self.context
        if context is not None:
            account = context.account
            if account is None or (access.reads and not context.can_read) or (
                    access.writes and not context.can_write):
                raise S3Error("AccessDenied")
            return BucketGrant(account)
        owner = s3_owner(self.storage, bucket) if bucket and access in (Access.READ, Access.WRITE) else None
        if owner is None:
            raise S3Error("AccessDenied")
        bucket_acl = self.storage.container_meta(owner, bucket).get(BUCKET_ACL_META)
        public_read = bucket_acl in PUBLIC_READ_ACLS
        allowed = bucket_acl == "public-read-write" if access is Access.WRITE else public_read or object_read
        if not allowed:
            raise S3Error("AccessDenied")
        return BucketGrant(owner, needs_object_acl=access is Access.READ and not public_read)

    def check_object_acl(self, acl: str | None) -> None:
        """For anonymous reads the bucket did not allow: the object's own canned ACL decides."""
        if self.needs_object_acl and acl not in PUBLIC_READ_ACLS:
            raise S3Error("AccessDenied")
