"""x-amz-checksum-* hashers, validation and multipart forms; SigV4 signing-key derivation."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest

from stackbox.s3.errors import S3Error
from stackbox.s3.signature.checksums import (
    Checksum,
    ChecksumHasher,
    checksum_from_headers,
    combine_full_object,
    composite,
    decode_value,
    verify,
)
from stackbox.s3.signature.keys import signing_key

CHECK_INPUT = b"123456789"  # the standard CRC check input
KNOWN_CHECKS = {"crc32": 0xCBF43926, "crc32c": 0xE3069283, "crc64nvme": 0xAE8B14860A799888}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(("algorithm", "check"), sorted(KNOWN_CHECKS.items()))
def test_crcs_match_their_catalogued_check_values(algorithm: str, check: int) -> None:
    hasher = ChecksumHasher(algorithm)
    for byte in CHECK_INPUT:  # incremental: one byte at a time
        hasher.update(bytes([byte]))
    width = 8 if algorithm == "crc64nvme" else 4
    assert hasher.result() == Checksum(algorithm, b64(check.to_bytes(width, "big")))


def test_sha_and_zlib_agreement() -> None:
    data = b"hello world" * 1000
    references = {"sha1": hashlib.sha1(data).digest(), "sha256": hashlib.sha256(data).digest(),
                  "crc32": zlib.crc32(data).to_bytes(4, "big")}
    for algorithm, reference in references.items():
        hasher = ChecksumHasher(algorithm)
        hasher.update(data[:5000])
        hasher.update(data[5000:])
        assert hasher.b64digest() == b64(reference)


def test_unsupported_algorithm() -> None:
    with pytest.raises(S3Error) as caught:
        ChecksumHasher("md4")
    assert caught.value.code == "InvalidRequest"


@pytest.mark.parametrize("value", ["", "!!!!", "AAAA", b64(b"\0" * 5), b64(b"\0" * 8)])
def test_malformed_values_are_invalid_requests(value: str) -> None:
    with pytest.raises(S3Error) as caught:
        decode_value("crc32", value)
    assert (caught.value.code, caught.value.message) == ("InvalidRequest",
                                                          "Value for x-amz-checksum-crc32 header is invalid.")


def test_checksum_from_headers() -> None:
    assert checksum_from_headers({"content-type": "x"}) is None
    assert checksum_from_headers({"x-amz-checksum-sha1": b64(b"\1" * 20), "x-amz-checksum-mode": "ENABLED",
                                  "x-amz-checksum-type": "COMPOSITE"}) == Checksum("sha1", b64(b"\1" * 20))
    with pytest.raises(S3Error) as caught:
        checksum_from_headers({"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-crc32c": "AAAAAA=="})
    assert caught.value.code == "InvalidRequest"


def test_verify() -> None:
    hasher = ChecksumHasher("crc32c")
    hasher.update(CHECK_INPUT)
    verify(Checksum("crc32c", hasher.b64digest()), hasher.result())
    with pytest.raises(S3Error) as caught:
        verify(Checksum("crc32c", "AAAAAA=="), hasher.result())
    assert (caught.value.code, caught.value.status) == ("BadDigest", 400)
    assert caught.value.message == "The CRC32C you specified did not match the calculated checksum."


def _part_checksums(algorithm: str, parts: list[bytes]) -> list[str]:
    values = []
    for part in parts:
        hasher = ChecksumHasher(algorithm)
        hasher.update(part)
        values.append(hasher.b64digest())
    return values


def test_composite_is_the_checksum_of_the_part_checksums() -> None:
    parts = [b"a" * 1000, b"b" * 10, b"c"]
    values = _part_checksums("sha256", parts)
    expected = hashlib.sha256(b"".join(base64.b64decode(v) for v in values)).digest()
    assert composite("sha256", values) == Checksum("sha256", f"{b64(expected)}-3")


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme"])
def test_full_object_crc_equals_the_crc_of_the_whole(algorithm: str) -> None:
    parts = [bytes(range(256)) * 40, b"", b"tail" * 3, b"x" * 70000]
    whole = ChecksumHasher(algorithm)
    whole.update(b"".join(parts))
    combined = combine_full_object(algorithm, list(zip(_part_checksums(algorithm, parts),
                                                       [len(p) for p in parts], strict=True)))
    assert combined == whole.result()


def test_full_object_is_refused_for_sha() -> None:
    with pytest.raises(S3Error) as caught:
        combine_full_object("sha256", [(b64(b"\0" * 32), 1)])
    assert caught.value.code == "InvalidRequest"


def test_signing_key_matches_the_aws_documented_example() -> None:
    # AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signing_keys_are_cached_per_scope() -> None:
    signing_key.cache_clear()
    first = signing_key("secret", "20260101", "us-east-1", "s3")
    assert signing_key("secret", "20260101", "us-east-1", "s3") is first
    assert signing_key("secret", "20260102", "us-east-1", "s3") != first
    assert signing_key.cache_info().hits == 1
    assert signing_key.cache_info().maxsize is not None
