"""How object attributes and extent lists are packed into metadata columns (compact JSON)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from stackbox.storage.sealing import decode_sealing, encode_sealing
from stackbox.storage.types import NO_LOCK, Checksum, Extent, ObjectAttrs, ObjectInfo, ObjectLock, ObjectPart


def encode_object_attrs(attrs: ObjectAttrs, checksum: Checksum | None, parts: Iterable[ObjectPart]) -> bytes:
    document: dict[str, Any] = {}
    for name, value in (("m", attrs.meta), ("h", attrs.headers), ("t", attrs.tags), ("a", attrs.acl)):
        if value:
            document[name] = value
    if checksum is not None:
        document["c"] = [checksum.algorithm, checksum.value, checksum.type, list(checksum.part_values)]
    if attrs.sealing is not None:
        document["e"] = encode_sealing(attrs.sealing)
    encoded_parts = [[part.number, part.size, part.etag, part.checksum] for part in parts]
    if encoded_parts:
        document["p"] = encoded_parts
    return orjson.dumps(document)


def decode_attrs(raw: bytes | str) -> dict[str, Any]:
    decoded: dict[str, Any] = orjson.loads(raw)
    return decoded


def encode_extents(extents: Iterable[Extent]) -> bytes:
    return orjson.dumps([
        [extent.blob_id, extent.offset, extent.length] if extent.data is None
        else [None, extent.offset, extent.length, base64.b64encode(extent.data).decode("ascii")]
        for extent in extents
    ])


def decode_extents(raw: bytes) -> list[Extent]:
    return [Extent(item[0], item[1], item[2], None if item[0] is not None else base64.b64decode(item[3]))
            for item in orjson.loads(raw)]


def row_to_object(account: str, container: str, row: Sequence[Any], version_id: str | None, *,
                  delete_marker: bool = False, lock: ObjectLock = NO_LOCK) -> ObjectInfo:
    """An `ObjectInfo` from (key, size, etag, content_type, last_modified, delete_at, manifest_type,
    attrs, extents, manifest, inline)."""
    (key, size, etag, content_type, last_modified, delete_at, manifest_type, attrs, extents, manifest,
     inline) = row
    document = decode_attrs(attrs)
    raw_checksum = document.get("c")
    checksum = None if raw_checksum is None else Checksum(
        raw_checksum[0], raw_checksum[1], raw_checksum[2], tuple(raw_checksum[3]))
    raw_parts = document.get("p")
    parts = tuple(ObjectPart(*part) for part in raw_parts) if raw_parts else ()
    raw_sealing = document.get("e")
    data_extents = (Extent(None, 0, size, bytes(inline)),) if inline is not None else (
        tuple(decode_extents(extents)) if extents else ())
    return ObjectInfo(
        account=account, container=container, key=key, size=size, etag=etag, content_type=content_type,
        last_modified=last_modified, meta=document.get("m", {}), headers=document.get("h", {}),
        tags=document.get("t", {}), acl=document.get("a"), delete_at=delete_at, checksum=checksum,
        manifest_type=manifest_type, manifest=None if manifest is None else bytes(manifest), parts=parts,
        extents=data_extents, version_id=version_id, delete_marker=delete_marker, lock=lock,
        sealing=None if raw_sealing is None else decode_sealing(raw_sealing))


def slice_extents(extents: Iterable[Extent], start: int, end: int) -> list[Extent]:
    """The extents covering bytes [start, end) of the concatenation of `extents`."""
    sliced: list[Extent] = []
    position = 0
    for extent in extents:
        extent_end = position + extent.length
        low, high = max(start, position), min(end, extent_end)
        if low < high:
            offset = extent.offset + (low - position)
            data = None if extent.data is None else extent.data[offset:offset + high - low]
            sliced.append(Extent(extent.blob_id, 0 if data is not None else offset, high - low, data))
        position = extent_end
        if position >= end:
            break
    return sliced
