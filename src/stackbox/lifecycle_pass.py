"""Applying bucket lifecycle rules, a bounded slice per housekeeping pass.

A sweep walks the containers that hold lifecycle rules (by id, a window at a time), and in each the
versions in (key, newest first) order, then the multipart uploads. A pass examines at most
`ROWS_PER_PASS` versions and uploads and resumes where the previous one stopped, so its cost is
bounded whatever the store holds; a large bucket is swept over several passes. Every deletion is a
small group-committed write that checks again that the version is in the state the scan saw.

What a rule does, as in S3: an expired current version gets a delete marker in a versioned bucket
and is deleted otherwise; a noncurrent version is deleted once it has been noncurrent (since its
successor was written) for NoncurrentDays, keeping NewerNoncurrentVersions; a delete marker that
is its key's only version goes (ExpiredObjectDeleteMarker, or an Expiration in Days it is old
enough for); an upload is aborted DaysAfterInitiation after it began. No version that Object Lock
protects is deleted for good (`is_locked`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from stackbox.storage.lifecycle import LifecycleVersion, Rule, earliest_expiry
from stackbox.storage.records import ContainerRef
from stackbox.storage.types import ObjectInfo
from stackbox.storage.versions import Position

if TYPE_CHECKING:
    from stackbox.storage.engine import Engine

DAY = 86400
#: Versions and uploads one pass examines at most.
ROWS_PER_PASS = 5000
#: Rows read per query; the loop yields between batches.
BATCH = 200
#: Container ids looked at per query for lifecycle rules, and what such a query costs of a pass's
#: budget (so that a store of many containers without rules is also walked in bounded passes).
BUCKET_WINDOW = 1000
WINDOW_COST = BATCH
#: Deletions sent to the group committer together (they share a transaction of at most this many).
ACTIONS_TOGETHER = 32

Action = Callable[[], Awaitable[object]]


def is_locked(version: ObjectInfo) -> bool:
    """Whether S3 Object Lock (a retention in force or a legal hold) protects `version` from being
    deleted for good: lifecycle never bypasses a GOVERNANCE retention."""
    return version.lock.protects(time.time())


@dataclass(slots=True)
class _KeyState:
    """What the scan knows about the key it is in."""

    key: str
    #: When the version just seen (the next newer one) was written: when the next became noncurrent.
    successor_modified: float
    #: Noncurrent objects seen so far (newer than the next one) and not deleted.
    newer_noncurrent: int = 0
    #: The key's current delete marker, while no other version of the key has shown up.
    sole_marker: LifecycleVersion | None = None


class _BucketSweep:
    """Where the sweep of one bucket stands: its versions, then its uploads."""

    def __init__(self, storage: Engine, bucket: ContainerRef, rules: list[Rule], day: int) -> None:
        self.storage = storage
        self.bucket = bucket
        self.rules = [rule for rule in rules if rule.enabled]
        self.day = day
        self.position: Position | None = None
        self.state: _KeyState | None = None
        self.versions_done = not any(_acts_on_versions(rule) for rule in self.rules)
        self.upload_after: tuple[str, str] = ("", "")
        self.uploads_done = not any(rule.abort_days is not None for rule in self.rules)

    @property
    def done(self) -> bool:
        return self.versions_done and self.uploads_done

    async def step(self, count: int) -> int:
        """Examine up to `count` versions or uploads and apply what is due; returns how many."""
        now = time.time()
        actions: list[Action] = []
        if not self.versions_done:
            examined = await self._scan_versions(count, now, actions)
        else:
            examined = await self._scan_uploads(count, now, actions)
        for start in range(0, len(actions), ACTIONS_TOGETHER):
            await asyncio.gather(*(action() for action in actions[start:start + ACTIONS_TOGETHER]))
        return examined

    async def _scan_versions(self, count: int, now: float, actions: list[Action]) -> int:
        rows = await self.storage.offload(self.storage.lifecycle_versions, self.bucket, self.position, count)
        for row in rows:
            self._visit(row, now, actions)
            self.position = Position(row.key, row.version)
        if len(rows) < count:
            self._close_key(actions)
            self.versions_done = True
        return len(rows)

    def _visit(self, row: LifecycleVersion, now: float, actions: list[Action]) -> None:
        state = self.state
        if state is None or state.key != row.key:
            self._close_key(actions)
            state = self.state = _KeyState(row.key, row.last_modified)
            if row.latest:
                self._visit_current(row, state, now, actions)
                return
        state.sole_marker = None
        if self._noncurrent_due(row, state, now, actions) or row.marker:
            state.successor_modified = row.last_modified
            return
        state.newer_noncurrent += 1
        state.successor_modified = row.last_modified

    def _visit_current(self, row: LifecycleVersion, state: _KeyState, now: float,
                       actions: list[Action]) -> None:
        if row.marker:
            if any(rule.removes_marker(row.key, row.last_modified, now, self.day) for rule in self.rules):
                state.sole_marker = row
            return
        due = earliest_expiry(self.rules, row.key, row.size, row.tags, row.last_modified, self.day)
        if due is not None and due[0] <= now:
            actions.append(partial(self.storage.expire_current_version, self.bucket, row.key, row.version,
                                   is_locked))

    def _noncurrent_due(self, row: LifecycleVersion, state: _KeyState, now: float,
                        actions: list[Action]) -> bool:
        """Queue the deletion of a noncurrent version a rule expires; whether one does."""
        for rule in self.rules:
            due = rule.noncurrent_expiry(row.key, row.size, row.tags, state.successor_modified,
                                         state.newer_noncurrent, self.day)
            if due is not None and due <= now:
                keep = rule.newer_noncurrent_versions or 0
                actions.append(partial(self.storage.expire_noncurrent_version, self.bucket, row.key,
                                       row.version, keep, is_locked))
                return True
        return False

    def _close_key(self, actions: list[Action]) -> None:
        """The scan left the key: a current delete marker seen alone is its only version."""
        marker = self.state.sole_marker if self.state is not None else None
        if marker is not None:
            actions.append(partial(self.storage.remove_expired_marker, self.bucket, marker.key,
                                   marker.version))
        self.state = None

    async def _scan_uploads(self, count: int, now: float, actions: list[Action]) -> int:
        uploads = await self.storage.offload(self.storage.lifecycle_uploads, self.bucket, self.upload_after,
                                             count)
        for upload in uploads:
            dues = [due for rule in self.rules
                    if (due := rule.upload_expiry(upload.key, upload.initiated, self.day)) is not None]
            if dues and min(dues) <= now:
                actions.append(partial(self.storage.abort_expired_upload, upload.upload_id))
            self.upload_after = (upload.key, upload.upload_id)
        if len(uploads) < count:
            self.uploads_done = True
        return len(uploads)


def _acts_on_versions(rule: Rule) -> bool:
    return (rule.expiration_days is not None or rule.expiration_epoch is not None
            or bool(rule.expired_object_delete_marker) or rule.noncurrent_days is not None)


class LifecycleSweep:
    """The sweep over every bucket with lifecycle rules, resumed pass after pass."""

    def __init__(self, storage: Engine, day: int = DAY) -> None:
        self._storage = storage
        self._day = day
        self._next_window: int | None = 0
        self._queue: list[tuple[ContainerRef, list[Rule]]] = []
        self._current: _BucketSweep | None = None

    async def run(self, budget: int = ROWS_PER_PASS) -> None:
        """One pass: at most `budget` versions and uploads examined. A sweep that ends starts again
        at the next pass."""
        while budget > 0:
            current = self._current_bucket()
            if current is None:
                if self._next_window is None:
                    self._next_window = 0
                    return
                found, self._next_window = await self._storage.offload(self._storage.lifecycle_buckets,
                                                                       self._next_window, BUCKET_WINDOW)
                self._queue.extend(found)
                budget -= WINDOW_COST
                continue
            budget -= max(1, await current.step(min(BATCH, budget)))
            await asyncio.sleep(0)

    def _current_bucket(self) -> _BucketSweep | None:
        while self._current is None or self._current.done:
            if not self._queue:
                self._current = None
                return None
            bucket, rules = self._queue.pop(0)
            self._current = _BucketSweep(self._storage, bucket, rules, self._day)
        return self._current
