"""The condition keys of one S3 request, computed only when a policy condition asks for them."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from stackbox.s3.policy_conditions import EXISTING_TAG_KEY
from stackbox.storage.types import StorageError

if TYPE_CHECKING:
    from stackbox.s3.call import S3Call

#: Condition keys read from a request header of another name (`s3:x-amz-*` keys read their own header).
_HEADER_KEYS = {
    "aws:referer": "referer", "aws:useragent": "user-agent",
    "s3:object-lock-mode": "x-amz-object-lock-mode",
    "s3:object-lock-legal-hold": "x-amz-object-lock-legal-hold",
    "s3:object-lock-retain-until-date": "x-amz-object-lock-retain-until-date",
}
_QUERY_KEYS = {"s3:prefix": "prefix", "s3:delimiter": "delimiter", "s3:max-keys": "max-keys",
               "s3:versionid": "versionId"}


class RequestKeys:
    """`lookup(key)` gives the request's values of a (lower-case) condition key, None when absent.
    The object's tags (s3:ExistingObjectTag/<key>) come from the store: `load_existing_tags` reads
    them first, when the policy asks for them."""

    __slots__ = ("account", "bucket", "call", "existing_tags", "key")

    def __init__(self, call: S3Call, account: str, bucket: str, key: str) -> None:
        self.call, self.account, self.bucket, self.key = call, account, bucket, key
        self.existing_tags: Mapping[str, str] | None = None

    async def load_existing_tags(self) -> None:
        if not self.key:
            return
        try:
            obj = await self.call.storage.head_object(self.account, self.bucket, self.key,
                                                      self.call.query.get("versionId"))
        except StorageError:
            return
        self.existing_tags = obj.tags

    def lookup(self, name: str) -> Sequence[str] | None:
        call = self.call
        header = _HEADER_KEYS.get(name) or (name[3:] if name.startswith("s3:x-amz-") else None)
        if header is not None:
            value = call.headers.get(header)
            return None if value is None else (value,)
        query = _QUERY_KEYS.get(name)
        if query is not None:
            value = call.query.get(query)
            return None if value is None else (value,)
        if name.startswith("s3:requestobjecttag/"):
            tags = self._request_tags()
            found = tags.get(name[len("s3:requestobjecttag/"):]) if tags is not None else None
            return None if found is None else (found,)
        if name == "s3:requestobjecttagkeys":
            tags = self._request_tags()
            return None if tags is None else tuple(tags)
        if name.startswith(EXISTING_TAG_KEY):
            return self._existing_tag(name[len(EXISTING_TAG_KEY):])
        return self._identity(name)

    def _identity(self, name: str) -> Sequence[str] | None:
        call, context = self.call, self.call.context
        if name == "aws:sourceip":
            return (call.request.client_host,)
        if name == "aws:securetransport":
            return ("true" if call.request.scope.get("scheme") == "https" else "false",)
        if name == "aws:currenttime":
            return (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),)
        if name == "aws:epochtime":
            return (str(int(time.time())),)
        if name == "aws:principaltype":
            return ("Anonymous" if context is None else "User",)
        if name == "s3:resourceaccount":
            return (self.account.removeprefix("AUTH_"),)
        if name == "s3:signatureversion" and call.auth is not None:
            return ("AWS4-HMAC-SHA256" if call.auth.version == 4 else "AWS",)
        if context is None or context.project_id is None:
            return None
        values = {"aws:principalaccount": context.project_id, "aws:userid": context.user_id,
                  "aws:username": context.user_name,
                  "aws:principalarn": f"arn:aws:iam::{context.project_id}:user/{context.user_name}"}
        value = values.get(name)
        return None if value is None else (value,)

    def _request_tags(self) -> dict[str, str] | None:
        header = self.call.headers.get("x-amz-tagging")
        if header is None:
            return None
        return dict(parse_qsl(header, keep_blank_values=True))

    def _existing_tag(self, tag: str) -> Sequence[str] | None:
        value = None if self.existing_tags is None else self.existing_tags.get(tag)
        return None if value is None else (value,)
