"""Bucket lifecycle rules (S3's lifecycle configuration) as the store applies them.

The S3 front end parses and validates a configuration into `Rule`s and stores them as JSON under
the container metadata key `LIFECYCLE_META`; the housekeeping loop (`stackbox.maintenance`) reads
them back and asks `Rule`'s methods which versions and uploads are due. A lifecycle "day" lasts
`day` seconds (86400 unless shortened for tests); as in S3, a time computed in days is rounded
up to the next day boundary (midnight UTC with real days).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import orjson

from stackbox.storage.records import ContainerRef
from stackbox.storage.types import ObjectInfo, UploadInfo
from stackbox.storage.versions import Position

if TYPE_CHECKING:
    from stackbox.storage.metadata import Catalog

#: The container metadata key holding a bucket's lifecycle rules (JSON).
LIFECYCLE_META = "s3:lifecycle"


@dataclass(frozen=True, slots=True)
class Filter:
    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    size_greater_than: int | None = None
    size_less_than: int | None = None
    #: How the client wrote it, to answer the same document: "legacy" (a top-level Prefix), "empty",
    #: "prefix", "tag", "and", "greater", "less".
    shape: str = "empty"

    def matches(self, key: str, size: int, tags: Mapping[str, str]) -> bool:
        if not key.startswith(self.prefix):
            return False
        if self.size_greater_than is not None and size <= self.size_greater_than:
            return False
        if self.size_less_than is not None and size >= self.size_less_than:
            return False
        return all(tags.get(name) == value for name, value in self.tags)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    enabled: bool
    filter: Filter
    expiration_days: int | None = None
    #: `Expiration/Date` (midnight UTC) in epoch seconds.
    expiration_epoch: float | None = None
    expired_object_delete_marker: bool | None = None
    noncurrent_days: int | None = None
    newer_noncurrent_versions: int | None = None
    abort_days: int | None = None

    def current_expiry(self, key: str, size: int, tags: Mapping[str, str], modified: float,
                       day: int) -> float | None:
        """When this rule expires a current version (None: it does not)."""
        if not self.enabled or not self.filter.matches(key, size, tags):
            return None
        if self.expiration_days is not None:
            return day_boundary(modified + self.expiration_days * day, day)
        return self.expiration_epoch

    def removes_marker(self, key: str, modified: float, now: float, day: int) -> bool:
        """Whether this rule removes an expired object delete marker (the only version of its key):
        ExpiredObjectDeleteMarker, or an Expiration in Days the marker is old enough for."""
        if not self.enabled or not self.filter.matches(key, 0, {}) or self.filter.tags:
            return False
        if self.expired_object_delete_marker:
            return True
        return self.expiration_days is not None and day_boundary(
            modified + self.expiration_days * day, day) <= now

    def noncurrent_expiry(self, key: str, size: int, tags: Mapping[str, str], noncurrent_since: float,
                          newer_noncurrent: int, day: int) -> float | None:
        """When this rule deletes a noncurrent version that `newer_noncurrent` noncurrent versions
        are newer than (None: it does not)."""
        if self.noncurrent_days is None or not self.enabled or not self.filter.matches(key, size, tags):
            return None
        if newer_noncurrent < (self.newer_noncurrent_versions or 0):
            return None
        return day_boundary(noncurrent_since + self.noncurrent_days * day, day)

    def upload_expiry(self, key: str, initiated: float, day: int) -> float | None:
        if self.abort_days is None or not self.enabled or not key.startswith(self.filter.prefix):
            return None
        return day_boundary(initiated + self.abort_days * day, day)


def day_boundary(moment: float, day: int) -> float:
    """The first day boundary at or after `moment` (midnight UTC for 86400-second days)."""
    return float(math.ceil(moment / day) * day)


def earliest_expiry(rules: list[Rule], key: str, size: int, tags: Mapping[str, str], modified: float,
                    day: int) -> tuple[float, str] | None:
    """(when, rule id) of the first rule to expire a current version, if any."""
    found = [(due, rule.id) for rule in rules
             if (due := rule.current_expiry(key, size, tags, modified, day)) is not None]
    return min(found) if found else None


def needs_tags(rules: list[Rule]) -> bool:
    return any(rule.filter.tags for rule in rules)


def encode_rules(rules: list[Rule]) -> str:
    return orjson.dumps([asdict(rule) for rule in rules]).decode()


def decode_rules(raw: str | None) -> list[Rule]:
    if not raw:
        return []
    return [_rule(document) for document in orjson.loads(raw)]


def _rule(document: dict[str, Any]) -> Rule:
    filter_document = document.pop("filter")
    tags = tuple((name, value) for name, value in filter_document.pop("tags"))
    return Rule(filter=Filter(tags=tags, **filter_document), **document)


@dataclass(frozen=True, slots=True)
class LifecycleVersion:
    """A version (or delete marker) as the lifecycle scan reads it."""

    key: str
    #: The internal version id (`versions.new_version`), stable whatever the container's state.
    version: str
    is_null: bool
    latest: bool
    marker: bool
    size: int
    last_modified: float
    tags: Mapping[str, str]


#: Whether a version may not be deleted for good now (S3 Object Lock retention or legal hold).
Locked = Callable[[ObjectInfo], bool]


class LifecycleOperations:
    """The lifecycle half of `Engine`: the scans and the guarded deletions the housekeeping loop
    needs. Each scan call costs O(count); each action is one small write in a group commit, which
    checks again that the version is in the state the scan saw."""

    _catalog: Catalog

    async def _purge_if_due(self) -> None:
        raise NotImplementedError

    def lifecycle_buckets(self, after_id: int,
                          window: int) -> tuple[list[tuple[ContainerRef, list[Rule]]], int | None]:
        """Containers with lifecycle rules among the ids (after_id, after_id + window]; and where
        the next window starts (None: at the end)."""
        found, following = self._catalog.containers_with_meta(LIFECYCLE_META, after_id, window)
        return [(ref, decode_rules(raw)) for ref, raw in found], following

    def lifecycle_versions(self, bucket: ContainerRef, after: Position | None,
                           count: int) -> list[LifecycleVersion]:
        return self._catalog.lifecycle_versions(bucket.id, after, count, time.time())

    def lifecycle_uploads(self, bucket: ContainerRef, after: tuple[str, str], count: int) -> list[UploadInfo]:
        return self._catalog.uploads(bucket.id, bucket.account, bucket.name, "", after, count)

    async def expire_current_version(self, bucket: ContainerRef, key: str, version: str,
                                     locked: Locked) -> bool:
        return await self._purging(self._catalog.expire_current(bucket, key, version, locked, time.time()))

    async def expire_noncurrent_version(self, bucket: ContainerRef, key: str, version: str, keep_newer: int,
                                        locked: Locked) -> bool:
        return await self._purging(self._catalog.expire_noncurrent(bucket, key, version, keep_newer, locked,
                                                                   time.time()))

    async def remove_expired_marker(self, bucket: ContainerRef, key: str, version: str) -> bool:
        return await self._purging(self._catalog.remove_expired_marker(bucket, key, version, time.time()))

    async def abort_expired_upload(self, upload_id: str) -> None:
        await self._catalog.abort_upload_grouped(upload_id, time.time())
        await self._purge_if_due()

    async def _purging(self, action: Awaitable[bool]) -> bool:
        done = await action
        await self._purge_if_due()
        return done
