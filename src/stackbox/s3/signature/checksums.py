"""S3's additional checksums (`x-amz-checksum-*`): header parsing, validation and multipart forms with
S3's errors. The arithmetic (hashers, COMPOSITE and FULL_OBJECT combining) is the engine's
(`storage/checksums.py`), so both compute every value one way.

Values travel base64-encoded, big-endian for the CRCs, exactly as S3 shows them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stackbox.s3.errors import S3Error
from stackbox.storage import checksums as stored

HEADER_PREFIX = "x-amz-checksum-"

#: `x-amz-checksum-type`, `-mode` and `-algorithm` are options that share the prefix, not values.
_OPTION_SUFFIXES = frozenset({"type", "mode", "algorithm"})

#: The algorithms we accept, by their lower-case S3 name.
ALGORITHMS: frozenset[str] = stored.ALGORITHMS
_CRCS = frozenset({"crc32", "crc32c", "crc64nvme"})


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
    """An incremental hasher for one S3 checksum algorithm (the engine's, with S3's error)."""

    __slots__ = ("_hasher", "algorithm")

    def __init__(self, algorithm: str) -> None:
        if algorithm not in ALGORITHMS:
            raise S3Error("InvalidRequest", f"Checksum algorithm {algorithm!r} is not supported.")
        self.algorithm = algorithm
        self._hasher = stored.new_hasher(algorithm)

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def digest(self) -> bytes:
        return self._hasher.digest()

    def b64digest(self) -> str:
        return stored.encode(self.digest())

    def result(self) -> Checksum:
        return Checksum(self.algorithm, self.b64digest())


def algorithm_of_header(name: str) -> str | None:
    """`x-amz-checksum-crc32` -> `crc32`; None for any other header name (case-insensitive)."""
    name = name.lower()
    if not name.startswith(HEADER_PREFIX):
        return None
    return name[len(HEADER_PREFIX):]


def digest_size(algorithm: str) -> int:
    return len(stored.new_hasher(algorithm).digest())


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
    if algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest", f"Checksum algorithm {algorithm!r} is not supported.")
    for value in part_values:
        decode_value(algorithm, value)
    return Checksum(algorithm, f"{stored.composite(algorithm, part_values)}-{len(part_values)}")


def combine_full_object(algorithm: str, parts: Sequence[tuple[str, int]]) -> Checksum:
    """A multipart upload's FULL_OBJECT checksum from each part's (base64 CRC, length), without
    reading the data again. Only the CRCs combine this way; S3 rejects FULL_OBJECT for SHA."""
    if algorithm not in _CRCS:
        raise S3Error("InvalidRequest", "The FULL_OBJECT checksum type cannot be used with the "
                      f"{algorithm} checksum algorithm.")
    for value, _ in parts:
        decode_value(algorithm, value)
    return Checksum(algorithm, stored.combine_full_object(algorithm, parts))
