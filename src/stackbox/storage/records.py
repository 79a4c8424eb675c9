"""What the engine hands a catalog to write: a new object version, and a container it resolved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackbox.storage.quotas import Quota
from stackbox.storage.types import Checksum, Extent, ObjectAttrs, ObjectPart, Versioning


@dataclass(frozen=True, slots=True)
class NewObject:
    """An object version ready to commit: attributes plus where its data is."""

    size: int
    etag: str
    attrs: ObjectAttrs
    checksum: Checksum | None = None
    parts: Sequence[ObjectPart] = ()
    extents: Sequence[Extent] = ()
    inline: bytes | None = None
    #: A freshly published blob this version introduces: (blob id, size).
    new_blob: tuple[str, int] | None = None
    #: The quotas the commit must keep (checked inside its transaction); None: no quota is set.
    quota: Quota | None = None

    @property
    def bytes_counted(self) -> int:
        """What the version adds to its container's bytes used: a Swift SLO counts its manifest
        document, as in Swift (its segments are counted where they live); anything else its size."""
        if self.attrs.manifest_type == "slo" and self.attrs.manifest is not None:
            return len(self.attrs.manifest)
        return self.size


@dataclass(frozen=True, slots=True)
class ContainerRef:
    id: int
    account: str
    name: str
    #: As read with the id: commits read it again inside their transaction (`_current_ref`).
    versioning: Versioning = "unversioned"
