"""Fuzzing the aws-chunked payload decoder (unsigned and signed chunks, trailers).

Property: decoding any body, cut into any network pieces, yields bytes or raises S3Error, and
never buffers more than one line (the decoder's MAX_LINE) beyond what the network delivered.
A well-formed encoding decodes to its payload.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import zlib
from collections.abc import AsyncIterator

from hypothesis import example, given
from hypothesis import strategies as st

from stackbox.s3.errors import S3Error
from stackbox.s3.signature.streaming import AwsChunkedDecoder, ChunkSigner

SIGNER = ChunkSigner(key=b"k" * 32, amz_date="20260101T000000Z", scope="20260101/us-east-1/s3/aws4_request",
                     seed_signature="0" * 64)
SEPARATORS = [b"\r\n", b"\n", b";", b"=", b"0", b"chunk-signature=", b":", b" "]


async def _pieces(body: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    """`body` in network reads cut at `cuts`; never an empty read (Request.stream() skips them)."""
    bounds = [0, *sorted(cuts), len(body)]
    for start, end in itertools.pairwise(bounds):
        if body[start:end]:
            yield body[start:end]


def _decode(body: bytes, cuts: list[int], *, decoded_length: int, signer: ChunkSigner | None,
            trailer: str | None) -> tuple[bytes, dict[str, str]]:
    decoder = AwsChunkedDecoder(decoded_length=decoded_length, signer=signer, expected_trailer=trailer)

    async def drain() -> bytes:
        return b"".join([piece async for piece in decoder.decode(_pieces(body, cuts))])

    return asyncio.run(drain()), decoder.trailers


def _chunky_bytes() -> st.SearchStrategy[bytes]:
    """Bodies assembled from framing tokens and random runs, so the parser sees near-valid input."""
    token = st.one_of(st.sampled_from(SEPARATORS), st.binary(max_size=20),
                      st.integers(0, 0xFFFFFFFFF).map(lambda n: f"{n:x}".encode()))
    return st.lists(token, max_size=40).map(b"".join)


@given(_chunky_bytes(), st.lists(st.integers(0, 400), max_size=6), st.integers(0, 300),
       st.booleans(), st.sampled_from([None, "x-amz-checksum-crc32"]))
@example(b"ffffffffffffffff\r\n", [], 10, False, None)
@example(b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", [3], 5, False, "x-amz-checksum-crc32")
def test_arbitrary_bodies(body: bytes, cuts: list[int], decoded_length: int, signed: bool,
                          trailer: str | None) -> None:
    with contextlib.suppress(S3Error):
        payload, _ = _decode(body, cuts, decoded_length=decoded_length, signer=SIGNER if signed else None,
                             trailer=trailer)
        assert len(payload) == decoded_length


def _encode(chunks: list[bytes], signer: ChunkSigner | None, trailer: tuple[str, str] | None) -> bytes:
    previous = signer.seed_signature if signer else ""
    out = bytearray()
    for chunk in [*chunks, b""]:
        header = f"{len(chunk):x}".encode()
        if signer is not None:
            previous = signer.chunk_signature(previous, hashlib.sha256(chunk).hexdigest())
            header += f";chunk-signature={previous}".encode()
        out += header + b"\r\n" + chunk + (b"\r\n" if chunk else b"")
    if trailer is not None:
        out += f"{trailer[0]}:{trailer[1]}\r\n".encode()
        if signer is not None:
            signature = signer.trailer_signature(previous, f"{trailer[0]}:{trailer[1]}\n".encode())
            out += f"x-amz-trailer-signature:{signature}\r\n".encode()
    return bytes(out + b"\r\n")


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=6), st.lists(st.integers(0, 2000), max_size=8),
       st.booleans(), st.booleans())
def test_well_formed_bodies_decode(chunks: list[bytes], cuts: list[int], signed: bool,
                                   with_trailer: bool) -> None:
    payload = b"".join(chunks)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    trailer = ("x-amz-checksum-crc32", crc) if with_trailer else None
    signer = SIGNER if signed else None
    body = _encode(chunks, signer, trailer)
    decoded, trailers = _decode(body, cuts, decoded_length=len(payload), signer=signer,
                                trailer=trailer[0] if trailer else None)
    assert decoded == payload
    assert trailers == (dict([trailer]) if trailer else {})
