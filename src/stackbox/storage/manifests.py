"""Flattening a Swift static large object's segments into extents: bounded work, done before the
write lock is taken (the commit only checks that the segments read are unchanged).

A nested manifest's data is already flat, so an SLO of SLOs multiplies extents: the result is
capped at `MAX_MANIFEST_EXTENTS`, and the extents read from the (distinct) segments at
`MAX_SEGMENT_EXTENTS_READ`, so that neither a manifest's size nor the work of making it grows with
what its segments hold.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stackbox.storage.codec import slice_extents
from stackbox.storage.types import Extent, InvalidSegment, ManifestTooLarge, ObjectInfo, SegmentRef

#: Extents one static large object may have: S3's part limit, so that an SLO over one S3 multipart
#: object (or over 1000 segments of ten extents each) fits.
MAX_MANIFEST_EXTENTS = 10_000
#: Extents read, over a manifest's distinct segments, to flatten it.
MAX_SEGMENT_EXTENTS_READ = 2 * MAX_MANIFEST_EXTENTS

Location = tuple[str, str, str]  # account, container, key


@dataclass(frozen=True, slots=True)
class SegmentVersion:
    """A segment as it was read: the commit refuses the manifest if it changed since."""

    index: int
    location: Location
    etag: str
    last_modified: float


@dataclass(frozen=True, slots=True)
class FlatManifest:
    extents: list[Extent]
    size: int
    #: Swift's SLO etag: MD5 of the segments' etags, with `:first-last;` for ranged ones (an inline data
    #: segment's etag is the MD5 of its bytes).
    etag: str
    segments: list[SegmentVersion]


class _Segment:
    """A segment read once, with its extents' cumulative ends to slice it by bisection (a manifest
    may name the same large segment a thousand times)."""

    __slots__ = ("ends", "info")

    def __init__(self, info: ObjectInfo) -> None:
        self.info = info
        self.ends = list(itertools.accumulate(extent.length for extent in info.extents))

    def slice(self, start: int, stop: int) -> list[Extent]:
        first = bisect.bisect_right(self.ends, start)
        base = self.ends[first - 1] if first else 0
        extents = self.info.extents
        return slice_extents((extents[i] for i in range(first, len(extents))), start - base, stop - base)


def flatten(account: str, segments: Sequence[SegmentRef],
            read: Callable[[Location], ObjectInfo | None]) -> FlatManifest:
    """The extents of the concatenated segments; `read` returns a live object or None. Raises
    `InvalidSegment` and `ManifestTooLarge`."""
    read_budget = MAX_SEGMENT_EXTENTS_READ
    sources: dict[Location, _Segment] = {}
    versions: list[SegmentVersion] = []
    extents: list[Extent] = []
    etags = hashlib.md5(usedforsecurity=False)
    for index, segment in enumerate(segments):
        if segment.data is not None:
            extents.append(Extent(None, 0, len(segment.data), segment.data))
            etags.update(hashlib.md5(segment.data, usedforsecurity=False).hexdigest().encode())
            continue
        location = (segment.account or account, segment.container, segment.key)
        source = sources.get(location)
        if source is None:
            info = read(location)
            if info is None:
                raise InvalidSegment(index, "not found")
            read_budget -= len(info.extents)
            if read_budget < 0:
                raise ManifestTooLarge(f"the segments hold more than {MAX_SEGMENT_EXTENTS_READ} extents")
            source = sources[location] = _Segment(info)
            versions.append(SegmentVersion(index, location, info.etag, info.last_modified))
        _check_segment(index, segment, source.info)
        start, stop = _segment_range(index, segment, source.info.size)
        extents += source.slice(start, stop)
        if len(extents) > MAX_MANIFEST_EXTENTS:
            raise ManifestTooLarge(f"the data would span more than {MAX_MANIFEST_EXTENTS} extents")
        ranged = f":{start}-{stop - 1};" if (segment.start, segment.end) != (None, None) else ""
        etags.update(f"{source.info.etag}{ranged}".encode())
    size = sum(extent.length for extent in extents)
    return FlatManifest(extents, size, etags.hexdigest(), versions)


def _check_segment(index: int, segment: SegmentRef, source: ObjectInfo) -> None:
    if segment.etag is not None and segment.etag.strip('"') != source.etag:
        raise InvalidSegment(index, "etag mismatch")
    if segment.size is not None and segment.size != source.size:
        raise InvalidSegment(index, "size mismatch")


def _segment_range(index: int, segment: SegmentRef, size: int) -> tuple[int, int]:
    start = 0 if segment.start is None else segment.start
    stop = size if segment.end is None else segment.end
    if not 0 <= start < stop <= size:
        raise InvalidSegment(index, f"range {start}-{stop} outside {size} bytes")
    return start, stop
