"""The catalog's S3 multipart uploads and parts (part of `metadata.Catalog`, split out for size).

Every public method is one transaction (or one read) and speaks domain terms: no database type
crosses them. The same statements run on SQLite and PostgreSQL (`stackbox.sql`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson

from stackbox.sql import Connection
from stackbox.storage.records import ContainerRef, NewObject
from stackbox.storage.sealing import decode_sealing, encode_sealing
from stackbox.storage.types import (
    Extent,
    InvalidPart,
    NoSuchUpload,
    ObjectAttrs,
    ObjectInfo,
    ObjectLock,
    PartInfo,
    Preconditions,
    UploadInfo,
)

#: What a completion is given: the upload's stored parts by number, with the blob each lives in.
StoredParts = Mapping[int, tuple[PartInfo, str]]


class PartsChanged(InvalidPart):
    """A part was uploaded again between reading the parts and committing the completion."""


class UploadRecords:
    """Uploads and parts; mixed into `metadata.Catalog`, whose transactions and references it uses."""

    conn: Connection

    def write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _drop_refs(self, conn: Connection, extents: Iterable[Extent], now: float) -> None:
        raise NotImplementedError

    def store_object(self, conn: Connection, ref: ContainerRef, key: str, new: NewObject,
                     preconditions: Preconditions, now: float) -> ObjectInfo:
        raise NotImplementedError

    def add_upload(self, container_id: int, upload: UploadInfo) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO upload (id, container_id, key, initiated, attrs) VALUES (?, ?, ?, ?, ?)",
                (upload.upload_id, container_id, upload.key, upload.initiated, _encode_upload(upload)))

    def upload(self, container_id: int, account: str, container: str, upload_id: str) -> UploadInfo | None:
        row = self.conn.execute(
            "SELECT id, key, initiated, attrs FROM upload WHERE id = ? AND container_id = ?",
            (upload_id, container_id)).fetchone()
        return None if row is None else _decode_upload(account, container, row)

    def parts(self, upload_id: str, marker: int, limit: int) -> tuple[list[PartInfo], bool]:
        """Parts numbered above `marker`, ascending; and whether more follow."""
        rows = self.conn.execute(
            "SELECT number, size, etag, last_modified, checksum FROM part WHERE upload_id = ? AND number > ? "
            "ORDER BY number LIMIT ?", (upload_id, marker, limit + 1)).fetchall()
        return [PartInfo(*row) for row in rows[:limit]], len(rows) > limit

    def uploads(self, container_id: int, account: str, container: str, prefix: str, after: tuple[str, str],
                count: int) -> list[UploadInfo]:
        """Up to `count` uploads with keys >= `prefix` after (key, upload id) `after`, in that order."""
        rows = self.conn.execute(
            "SELECT id, key, initiated, attrs FROM upload WHERE container_id = ? AND key >= ? "
            "AND (key > ? OR (key = ? AND id > ?)) ORDER BY key, id LIMIT ?",
            (container_id, prefix, after[0], after[0], after[1], count)).fetchall()
        return [_decode_upload(account, container, row) for row in rows]

    def uploads_initiated_before(self, moment: float) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT id FROM upload WHERE initiated < ?",
                                                    (moment,)).fetchall()]

    def add_part(self, upload_id: str, part: PartInfo, blob_id: str) -> None:
        """Records a part whose blob is published (replacing an earlier part with its number).
        NoSuchUpload if the upload ended meanwhile; the caller then deletes the blob."""
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM upload WHERE id = ?", (upload_id,)).fetchone() is None:
                raise NoSuchUpload(upload_id)
            previous = conn.execute("SELECT blob_id, size FROM part WHERE upload_id = ? AND number = ?",
                                    (upload_id, part.number)).fetchone()
            if previous is not None:
                self._drop_refs(conn, [Extent(previous[0], 0, previous[1])], part.last_modified)
            conn.execute("INSERT INTO blob (id, size, refs) VALUES (?, ?, 1)", (blob_id, part.size))
            conn.execute(
                "INSERT INTO part (upload_id, number, blob_id, size, etag, checksum, last_modified) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (upload_id, number) DO UPDATE SET "
                "blob_id = excluded.blob_id, size = excluded.size, etag = excluded.etag, "
                "checksum = excluded.checksum, last_modified = excluded.last_modified",
                (upload_id, part.number, blob_id, part.size, part.etag, part.checksum, part.last_modified))

    def abort_upload(self, upload_id: str, now: float) -> None:
        with self.write() as conn:
            self._drop_upload(conn, upload_id, now)

    def stored_parts(self, upload_id: str) -> tuple[StoredParts, str]:
        """The upload's parts by number with their blobs, read without the write lock; and their
        fingerprint, which `finish_upload` checks is still current."""
        rows = self.conn.execute("SELECT number, size, etag, last_modified, checksum, blob_id FROM part "
                                 "WHERE upload_id = ? ORDER BY number", (upload_id,)).fetchall()
        return {row[0]: (PartInfo(*row[:5]), row[5]) for row in rows}, ",".join(row[5] for row in rows)

    def finish_upload(self, ref: ContainerRef, upload_id: str, key: str, new: NewObject, fingerprint: str,
                      preconditions: Preconditions, now: float) -> ObjectInfo:
        """In one transaction: `new`, built from the parts `stored_parts` returned with `fingerprint`,
        is committed as a new version of `key`, and the upload and the parts it did not use are
        dropped (with their blob references). NoSuchUpload if the upload ended meanwhile,
        PartsChanged if a part was uploaded again."""
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM upload WHERE id = ?", (upload_id,)).fetchone() is None:
                raise NoSuchUpload(upload_id)
            # Blob ids are never reused: the same ids in the same order are the very parts read.
            current = conn.execute("SELECT blob_id FROM part WHERE upload_id = ? ORDER BY number",
                                   (upload_id,)).fetchall()
            if ",".join(row[0] for row in current) != fingerprint:
                raise PartsChanged(0)
            info = self.store_object(conn, ref, key, new, preconditions, now)
            self._drop_upload(conn, upload_id, now)
        return info

    def _drop_upload(self, conn: Connection, upload_id: str, now: float) -> None:
        parts = conn.execute("SELECT blob_id, size FROM part WHERE upload_id = ?", (upload_id,)).fetchall()
        self._drop_refs(conn, (Extent(blob_id, 0, size) for blob_id, size in parts), now)
        conn.execute("DELETE FROM part WHERE upload_id = ?", (upload_id,))
        conn.execute("DELETE FROM upload WHERE id = ?", (upload_id,))

    def _drop_uploads(self, conn: Connection, container_id: int, now: float) -> None:
        """Inside a transaction the caller holds: every upload of a container that is deleted."""
        for (upload_id,) in conn.execute("SELECT id FROM upload WHERE container_id = ?",
                                         (container_id,)).fetchall():
            self._drop_upload(conn, upload_id, now)


def _encode_upload(upload: UploadInfo) -> bytes:
    attrs = upload.attrs
    return orjson.dumps({
        "content_type": attrs.content_type, "meta": attrs.meta, "headers": attrs.headers, "tags": attrs.tags,
        "acl": attrs.acl, "delete_at": attrs.delete_at, "checksum": [upload.checksum_algorithm,
                                                                     upload.checksum_type],
        "initiator": upload.initiator,
        "sealing": None if upload.sealing is None else encode_sealing(upload.sealing),
        "lock": None if attrs.lock is None else [attrs.lock.mode, attrs.lock.retain_until,
                                                 attrs.lock.legal_hold]})


def _decode_upload(account: str, container: str, row: Sequence[Any]) -> UploadInfo:
    upload_id, key, initiated, raw = row
    document = orjson.loads(raw)
    algorithm, checksum_type = document.pop("checksum")
    lock = document.pop("lock", None)
    initiator = document.pop("initiator", None)
    sealing = decode_sealing(document.pop("sealing", None))
    document["lock"] = None if lock is None else ObjectLock(*lock)
    return UploadInfo(upload_id, account, container, key, initiated, ObjectAttrs(**document), algorithm,
                      checksum_type, initiator, sealing)

