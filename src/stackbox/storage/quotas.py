"""Container and account quotas (Swift's container_quotas and account_quotas), enforced where every
object write commits, whichever front end sent it.

A write is refused when the container's (or account's) bytes used plus the new object's size would
exceed its byte quota, or its object count plus one would exceed its count quota, as Swift counts
them (an overwrite counts as a new object). The limits come from metadata the front ends set:
the container's `X-Container-Meta-Quota-Bytes|Count` (user metadata) and the account's quotas
(kept apart from user metadata, which only the reseller admin may change). Values that are not
plain digits set no limit, as in Swift. The totals are read inside the write's own transaction,
so concurrent writers cannot together overshoot a quota.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stackbox.sql import Connection
from stackbox.storage.types import QuotaExceeded

CONTAINER_QUOTA_BYTES = "meta:quota-bytes"
CONTAINER_QUOTA_COUNT = "meta:quota-count"
ACCOUNT_QUOTA_BYTES = "sys:quota-bytes"
ACCOUNT_QUOTA_COUNT = "sys:quota-count"
#: Before Swift 2.37 the account's byte quota was user metadata; Swift still honours it when the
#: new one is not set.
LEGACY_ACCOUNT_QUOTA_BYTES = "meta:quota-bytes"


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int | None = None
    max_count: int | None = None

    def check(self, used: int, count: int, size: int) -> None:
        if self.max_bytes is not None and used + size > self.max_bytes:
            raise QuotaExceeded("Upload exceeds quota.")
        if self.max_count is not None and count + 1 > self.max_count:
            raise QuotaExceeded("Upload exceeds quota.")


@dataclass(frozen=True, slots=True)
class Quota:
    container: Limits | None = None
    account: Limits | None = None

    def check(self, conn: Connection, container_id: int, account: str, size: int) -> None:
        """Raise QuotaExceeded unless a new object of `size` bytes fits (`conn`: the write's own)."""
        if self.container is not None:
            count, used = conn.execute("SELECT object_count, bytes_used FROM container WHERE id = ?",
                                       (container_id,)).fetchone() or (0, 0)
            self.container.check(used, count, size)
        if self.account is not None:
            count, used = conn.execute(
                "SELECT COALESCE(SUM(object_count), 0), COALESCE(SUM(bytes_used), 0) FROM container "
                "WHERE account = ?", (account,)).fetchone()
            self.account.check(used, count, size)


def quota_of(container_meta: Mapping[str, str], account_meta: Mapping[str, str]) -> Quota | None:
    """The quotas the metadata set; None (the common case) when there are none."""
    container = _limits(container_meta.get(CONTAINER_QUOTA_BYTES), container_meta.get(CONTAINER_QUOTA_COUNT))
    account_bytes = account_meta.get(ACCOUNT_QUOTA_BYTES) or account_meta.get(LEGACY_ACCOUNT_QUOTA_BYTES)
    account = _limits(account_bytes, account_meta.get(ACCOUNT_QUOTA_COUNT))
    if container is None and account is None:
        return None
    return Quota(container, account)


def _limits(max_bytes: str | None, max_count: str | None) -> Limits | None:
    limits = Limits(_number(max_bytes), _number(max_count))
    return None if limits.max_bytes is None and limits.max_count is None else limits


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() else None
