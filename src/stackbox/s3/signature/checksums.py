"""S3's additional checksums (`x-amz-checksum-*`): incremental hashers, validation, multipart forms.

Values travel base64-encoded, big-endian for the CRCs, exactly as S3 shows them. The CRCs come
from awscrt (hardware-accelerated); the SHA family from hashlib.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from awscrt import checksums as crt

from stackbox.s3.errors import S3Error

HEADER_PREFIX = "x-amz-checksum-"

_CRCS: dict[str, tuple[Callable[[bytes, int], int], Callable[[int, int, int], int], int]] = {
    # algorithm -> (update, combine, width in bytes)
    "crc32": (crt.crc32, crt.combine_crc32, 4),
    "crc32c": (crt.crc32c, crt.combine_crc32c, 4),
    "crc64nvme": (crt.crc64nvme, crt.combine_crc64nvme, 8),
}
_SHAS: dict[str, Callable[[], hashlib._Hash]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}

#: `x-amz-checksum-type`, `-mode` and `-algorithm` are options that share the prefix, not values.
_OPTION_SUFFIXES = frozenset({"type", "mode", "algorithm"})

#: The algorithms we accept, by their lower-case S3 name.
ALGORITHMS: frozenset[str] = frozenset(_CRCS) | frozenset(_SHAS)


@dataclass(frozen=True, slots=True)
class Checksum:
    """A checksum as S3 stores and returns it: algorithm name (`crc32`...) and base64 value."""

    algorithm: str
    value: str

    @property
    def header(self) -> str:
        """The header (or trailer) carrying it, e.g. `x-amz-checksum-crc32`."""
        return HEADER_PREFIX + self.algorithm


class ChecksumHasher:
    """An incremental hasher for one S3 checksum algorithm."""

    __slots__ = ("_crc", "_crc_update", "_sha", "_width", "algorithm")

    def __init__(self, algorithm: str) -> None:
        if algorithm not in ALGORITHMS:
            raise S3Error("InvalidRequest", f"Checksum algorithm {algorithm!r} is not supported.")
        self.algorithm = algorithm
        self._crc = 0
        self._sha = _SHAS[algorithm]() if algorithm in _SHAS else None
        self._crc_update, _, self._width = _CRCS.get(algorithm, (crt.crc32, crt.combine_crc32, 0))

    def update(self, data: bytes) -> None:
        if self._sha is not None:
            self._sha.update(data)
        else:
            self._crc = self._crc_update(data, self._crc)

    def digest(self) -> bytes:
        if self._sha is not None:
            return self._sha.digest()
        return self._crc.to_bytes(self._width, "big")

    def b64digest(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")

    def result(self) -> Checksum:
        return Checksum(self.algorithm, self.b64digest())


def algorithm_of_header(name: str) -> str | None:
    """`x-amz-checksum-crc32` -> `crc32`; None for any other header name (case-insensitive)."""
    name = name.lower()
    if not name.startswith(HEADER_PREFIX):
        return None
    return name[len(HEADER_PREFIX):]


def digest_size(algorithm: str) -> int:
    if algorithm in _CRCS:
        return _CRCS[algorithm][2]
    return _SHAS[algorithm]().digest_size


def decode_value(algorithm: str, value: str) -> bytes:
    """The raw digest of a client-given base64 value; InvalidRequest if it cannot be one."""
    if algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest", f"Checksum algorithm {algorithm!r} is not supported.")
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != digest_size(algorithm):
        raise S3Error("InvalidRequest", f"Value for {HEADER_PREFIX}{algorithm} header is invalid.")
    return raw


def checksum_from_headers(headers: Mapping[str, str]) -> Checksum | None:
    """The one `x-amz-checksum-<algorithm>` header of a request, validated in form; None if absent."""
    found: list[Checksum] = []
    for name, value in headers.items():
        algorithm = algorithm_of_header(name)
        if algorithm is None:
            continue
        if algorithm in _OPTION_SUFFIXES:
            continue
        decode_value(algorithm, value)
        found.append(Checksum(algorithm, value.strip()))
    if len(found) > 1:
        raise S3Error("InvalidRequest",
                      "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    return found[0] if found else None


def verify(expected: Checksum, computed: Checksum) -> None:
    """Raise BadDigest, as S3 words it, unless the client's value matches what arrived."""
    expected_raw = decode_value(expected.algorithm, expected.value)
    if expected.algorithm != computed.algorithm or expected_raw != base64.b64decode(computed.value):
        name = expected.algorithm.upper()
        raise S3Error("BadDigest", f"The {name} you specified did not match the calculated checksum.")


def composite(algorithm: str, part_values: Sequence[str]) -> Checksum:
    """A multipart upload's COMPOSITE checksum: the checksum of the parts' raw checksums, then `-N`."""
    hasher = ChecksumHasher(algorithm)
    for value in part_values:
        hasher.update(decode_value(algorithm, value))
    return Checksum(algorithm, f"{hasher.b64digest()}-{len(part_values)}")


def combine_full_object(algorithm: str, parts: Sequence[tuple[str, int]]) -> Checksum:
    """A multipart upload's FULL_OBJECT checksum from each part's (base64 CRC, length), without
    reading the data again. Only the CRCs combine this way; S3 rejects FULL_OBJECT for SHA."""
    if algorithm not in _CRCS:
        raise S3Error("InvalidRequest", "The FULL_OBJECT checksum type cannot be used with the "
                      f"{algorithm} checksum algorithm.")
    _, combine, width = _CRCS[algorithm]
    crc = 0
    for value, length in parts:
        part_crc = int.from_bytes(decode_value(algorithm, value), "big")
        crc = combine(crc, part_crc, length)
    return Checksum(algorithm, base64.b64encode(crc.to_bytes(width, "big")).decode("ascii"))
