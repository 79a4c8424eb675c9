"""One S3 request as the operation handlers see it: who calls, which bucket and key, and the body."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from stackbox.auth import AuthContext
from stackbox.digits import decimal
from stackbox.http import Request, read_limited
from stackbox.s3 import authorize, xml
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import content_md5_hex
from stackbox.s3.operations import Operation
from stackbox.s3.signature import AuthResult

if TYPE_CHECKING:
    from stackbox.app import Cloud
    from stackbox.storage.contract import ObjectStore

@dataclass(slots=True)
class S3Call:
    cloud: Cloud
    request: Request
    auth: AuthResult | None
    bucket: str
    key: str
    #: The account that holds `bucket` (the caller's own project's, or another's it was granted).
    account: str = ""
    #: The project a `<project_id>:<bucket>` path named (None: the name resolves as authorize.py says).
    tenant: str | None = None
    #: The operation the route names (set by the authorizer).
    operation: Operation | None = None
    #: The bucket left the decision to the object's ACL (checked on the version the handler reads).
    object_acl_decides: bool = False
    #: The bucket's public access block ignores public grants (of the object's ACL too).
    ignore_public_acls: bool = False
    #: The bucket's metadata as the authorizer read it for this request (see `bucket_meta`).
    authorized_meta: Mapping[str, str] | None = field(default=None, repr=False)
    body_started: bool = field(default=False, repr=False)
    # The request's parts every handler reads, as attributes (properties cost a call each time).
    storage: ObjectStore = field(init=False, repr=False)
    query: dict[str, str] = field(init=False, repr=False)
    headers: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.storage = self.cloud.store
        self.query = self.request.query
        self.headers = self.request.headers

    @property
    def context(self) -> AuthContext | None:
        return self.auth.context if self.auth is not None else None

    async def bucket_meta(self) -> Mapping[str, str]:
        """The request's bucket's metadata, read once per request (by the authorizer, or now): for
        the settings a handler only reads (default encryption, lifecycle rules). A handler that
        changes the metadata must read what it changed from the store."""
        if self.authorized_meta is None:
            self.authorized_meta = await self.storage.container_meta(self.account, self.bucket)
        return self.authorized_meta

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
        """A small request body (a control document), checked against its Content-MD5 if it has one."""
        md5_hex = content_md5_hex(self.headers)
        body = await read_limited(self.payload(), limit)
        if md5_hex is not None and hashlib.md5(body, usedforsecurity=False).hexdigest() != md5_hex:
            raise S3Error("BadDigest")
        return body

    async def read_document(self, root: str) -> Element:
        body = await self.read_body()
        if not body.strip():
            raise S3Error("MalformedXML")
        return xml.parse(body, root)

    def check_object_acl(self, acl: str | None) -> None:
        """For a request the bucket left to the object's ACL: that ACL must grant the operation."""
        if self.object_acl_decides:
            authorize.check_object_acl(self, acl, self.operation, ignore_public=self.ignore_public_acls)
