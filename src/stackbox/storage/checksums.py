"""Incremental checksums over a streamed body: MD5 always, plus any of S3's additional algorithms.

CRCs come from `awscrt.checksums` (hardware-accelerated, tens of GB/s), SHA-1/SHA-256 from hashlib.
Values are base64 of the big-endian digest, as S3 transmits them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from typing import Protocol

from awscrt import checksums as crt

from stackbox.storage.types import UnsupportedChecksum


class Hasher(Protocol):
    def update(self, data: bytes) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, function: Callable[[bytes, int], int], width: int) -> None:
        self._function = function
        self._width = width
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._function(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width, "big")


_CRCS: dict[str, tuple[Callable[[bytes, int], int], int]] = {
    "crc32": (crt.crc32, 4),
    "crc32c": (crt.crc32c, 4),
    "crc64nvme": (crt.crc64nvme, 8),
}
_HASHLIB = {"sha1": "sha1", "sha256": "sha256"}
ALGORITHMS = frozenset(_CRCS) | frozenset(_HASHLIB)


def new_hasher(algorithm: str) -> Hasher:
    """A fresh incremental hasher; raises `UnsupportedChecksum` for an unknown algorithm name."""
    if algorithm in _CRCS:
        function, width = _CRCS[algorithm]
        return _Crc(function, width)
    if algorithm in _HASHLIB:
        return hashlib.new(_HASHLIB[algorithm])
    raise UnsupportedChecksum(algorithm)


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def checksum_of(algorithm: str, data: bytes) -> str:
    """The base64 checksum of `data` in one call."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return encode(hasher.digest())


class BodyDigests:
    """MD5 plus the requested extra checksums of everything passed to `update`, and the length."""

    def __init__(self, algorithms: Iterable[str]) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.extra = {name: new_hasher(name) for name in algorithms}
        self.length = 0

    def update(self, data: bytes) -> None:
        self.md5.update(data)
        for hasher in self.extra.values():
            hasher.update(data)
        self.length += len(data)

    def md5_hex(self) -> str:
        return self.md5.hexdigest()

    def values(self) -> dict[str, str]:
        """algorithm -> base64 value of each extra checksum."""
        return {name: encode(hasher.digest()) for name, hasher in self.extra.items()}


def combine_full_object(algorithm: str, parts: Iterable[tuple[str, int]]) -> str:
    """The CRC of a whole object from its parts' (base64 CRC, length), for S3 FULL_OBJECT multipart.

    Only CRC algorithms combine; SHA checksums of multipart objects can only be COMPOSITE.
    """
    combiners: dict[str, Callable[[int, int, int], int]] = {
        "crc32": crt.combine_crc32, "crc32c": crt.combine_crc32c, "crc64nvme": crt.combine_crc64nvme,
    }
    if algorithm not in combiners:
        raise UnsupportedChecksum(algorithm)
    combine = combiners[algorithm]
    width = _CRCS[algorithm][1]
    total: int | None = None
    for value, length in parts:
        crc = int.from_bytes(base64.b64decode(value), "big")
        total = crc if total is None else combine(total, crc, length)
    return encode((total or 0).to_bytes(width, "big"))


def composite(algorithm: str, part_values: Iterable[str]) -> str:
    """S3's COMPOSITE checksum: the checksum of the concatenated binary part checksums (without `-N`)."""
    hasher = new_hasher(algorithm)
    for value in part_values:
        hasher.update(base64.b64decode(value))
    return encode(hasher.digest())
