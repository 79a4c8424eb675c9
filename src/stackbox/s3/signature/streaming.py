"""Request bodies that carry their own integrity: `aws-chunked` framing (with or without chunk
signatures and trailers) and plain bodies with a hex `x-amz-content-sha256`.

Every decoder is an async generator over the raw body that yields payload bytes as they arrive and
raises S3Error as soon as something is wrong; the last check happens when the stream ends, so a
caller must drain the generator completely before it commits anything. At most one network read
is held in memory: chunk data is hashed and passed through piece by piece (a plain body's SHA-256 is
computed in the background, a few network reads behind).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass

from stackbox.s3.errors import S3Error
from stackbox.s3.signature.canonical import EMPTY_SHA256
from stackbox.s3.signature.keys import sign
from stackbox.storage.pipeline import background_hashing

MAX_LINE = 4096
MAX_TRAILER_LINES = 16
#: Whitespace tolerated after an aws-chunked body's last chunk and trailers.
MAX_TRAILING_BLANK = 4096
TRAILER_SIGNATURE = "x-amz-trailer-signature"


def malformed(detail: str) -> S3Error:
    return S3Error("InvalidRequest", f"Malformed aws-chunked encoding: {detail}")


def malformed_trailer(detail: str) -> S3Error:
    return S3Error("MalformedTrailerError", f"The request contained trailing data that was not well-formed "
                   f"or did not conform to our published schema: {detail}", status=400)


@dataclass(frozen=True, slots=True)
class ChunkSigner:
    """Computes the signature chain of STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] bodies; the
    chain starts at the request's own (seed) signature."""

    key: bytes
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, payload_sha256: str) -> str:
        return sign(self.key, f"AWS4-HMAC-SHA256-PAYLOAD\n{self.amz_date}\n{self.scope}\n{previous}\n"
                              f"{EMPTY_SHA256}\n{payload_sha256}")

    def trailer_signature(self, previous: str, canonical_trailer: bytes) -> str:
        digest = hashlib.sha256(canonical_trailer).hexdigest()
        return sign(self.key,
                    f"AWS4-HMAC-SHA256-TRAILER\n{self.amz_date}\n{self.scope}\n{previous}\n{digest}")


def _check_signature(expected: str, given: str) -> None:
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace")):
        raise S3Error("SignatureDoesNotMatch")


class _Framing:
    """Line and byte-count reads over an async stream of network pieces."""

    __slots__ = ("_buffer", "_source")

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self._buffer = bytearray()

    async def _more(self) -> bool:
        try:
            piece = await anext(self._source)
        except StopAsyncIteration:
            return False
        self._buffer += piece
        return True

    async def line(self) -> bytes:
        """The next CRLF-terminated line, without its CRLF."""
        line = await self.line_or_end()
        if line is None:
            raise S3Error("IncompleteBody", "The request body terminated unexpectedly")
        return line

    async def line_or_end(self) -> bytes | None:
        """The next line, or None if the body ends cleanly here."""
        searched = 0
        while True:
            end = self._buffer.find(b"\r\n", searched)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 2]
                return line
            if len(self._buffer) > MAX_LINE:
                raise malformed("line too long")
            searched = max(0, len(self._buffer) - 1)
            if not await self._more():
                if self._buffer:
                    raise S3Error("IncompleteBody", "The request body terminated unexpectedly")
                return None

    async def data(self, size: int) -> AsyncIterator[bytes]:
        """Exactly `size` bytes, in as many pieces as they arrived in."""
        remaining = size
        if self._buffer:
            taken = bytes(self._buffer[:remaining])
            del self._buffer[:remaining]
            remaining -= len(taken)
            yield taken
        while remaining:
            try:
                piece = await anext(self._source)
            except StopAsyncIteration:
                raise S3Error("IncompleteBody", "The request body terminated unexpectedly") from None
            if len(piece) > remaining:
                self._buffer += piece[remaining:]
                piece = piece[:remaining]
            remaining -= len(piece)
            yield piece

    async def rest_is_blank(self) -> bool:
        """Whether nothing but whitespace follows (read without keeping it): False as soon as more
        than MAX_TRAILING_BLANK bytes of it did, which a client has no reason to send."""
        seen = len(self._buffer)
        if self._buffer.strip():
            return False
        self._buffer.clear()
        async for piece in self._source:
            seen += len(piece)
            if piece.strip() or seen > MAX_TRAILING_BLANK:
                return False
        return True


def _parse_chunk_header(line: bytes, signed: bool) -> tuple[int, str]:
    """(chunk size, chunk signature or '') from `hex-size[;chunk-signature=sig]`."""
    size_text, _, extension = line.partition(b";")
    size_text = size_text.strip()
    if not size_text or len(size_text) > 16:
        raise malformed("bad chunk size")
    try:
        size = int(size_text, 16)
    except ValueError:
        raise malformed("bad chunk size") from None
    if not signed:
        return size, ""
    name, _, signature = extension.partition(b"=")
    if name.strip() != b"chunk-signature" or len(signature.strip()) != 64:
        raise S3Error("SignatureDoesNotMatch", "The chunk signature is missing or malformed.")
    return size, signature.strip().decode("ascii", "replace")


class AwsChunkedDecoder:
    """Decodes an `aws-chunked` body. Iterate `decode()`; afterwards `trailers` holds the trailing
    headers (lower-case name -> value), without the trailer signature."""

    __slots__ = ("_decoded_length", "_expected_trailer", "_signer", "trailers")

    def __init__(self, *, decoded_length: int, signer: ChunkSigner | None,
                 expected_trailer: str | None) -> None:
        self._decoded_length = decoded_length
        self._signer = signer
        self._expected_trailer = expected_trailer
        self.trailers: dict[str, str] = {}

    async def decode(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        framing = _Framing(source)
        previous = self._signer.seed_signature if self._signer else ""
        received = 0
        while True:
            size, signature = _parse_chunk_header(await framing.line(), self._signer is not None)
            received += size
            if received > self._decoded_length:
                raise S3Error("InvalidRequest",
                              "The aws-chunked body is longer than x-amz-decoded-content-length.")
            payload_hash = hashlib.sha256() if self._signer else None
            if size:
                async for piece in framing.data(size):
                    if payload_hash is not None:
                        payload_hash.update(piece)
                    yield piece
                if await framing.line():
                    raise malformed("chunk data is not followed by CRLF")
            if self._signer is not None and payload_hash is not None:
                _check_signature(self._signer.chunk_signature(previous, payload_hash.hexdigest()), signature)
                previous = signature
            if size == 0:
                break
        if received != self._decoded_length:
            raise S3Error("IncompleteBody")
        await self._read_trailers(framing, previous)

    async def _read_trailers(self, framing: _Framing, previous: str) -> None:
        lines: list[tuple[str, str]] = []
        # Some SDKs end the body right after the last trailer, without the closing blank line.
        while line := await framing.line_or_end():
            if len(lines) == MAX_TRAILER_LINES:
                raise malformed_trailer("too many trailing headers")
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise malformed_trailer("a trailing header has no ':'")
            lines.append((name.strip().lower(), value.strip()))
        if not await framing.rest_is_blank():
            raise malformed("data after the final chunk")
        signature = dict(lines).get(TRAILER_SIGNATURE)
        self.trailers = {name: value for name, value in lines if name != TRAILER_SIGNATURE}
        self._check_trailers(previous, signature)

    def _check_trailers(self, previous: str, signature: str | None) -> None:
        expected = self._expected_trailer
        if expected is None:
            if self.trailers:
                raise malformed_trailer("trailing headers that x-amz-trailer did not announce")
            return
        if set(self.trailers) != {expected}:
            raise malformed_trailer(f"expected the trailing header {expected}")
        if self._signer is None:
            return
        if signature is None:
            raise S3Error("SignatureDoesNotMatch", "The trailer signature is missing.")
        canonical = "".join(f"{name}:{value}\n" for name, value in self.trailers.items())
        _check_signature(self._signer.trailer_signature(previous, canonical.encode("latin-1")), signature)


async def verify_sha256(source: AsyncIterator[bytes], expected_hex: str) -> AsyncIterator[bytes]:
    """Pass a plain body through; XAmzContentSHA256Mismatch at the end if its SHA-256 differs.
    Large bodies are hashed in a worker thread while the next pieces arrive."""
    digest = hashlib.sha256()
    hashing = background_hashing(digest.update)
    try:
        async for piece in source:
            await hashing.add(piece)
            yield piece
        await hashing.finish()
    finally:
        hashing.cancel()
    computed = digest.hexdigest()
    if not hmac.compare_digest(computed, expected_hex.lower()):
        raise S3Error("XAmzContentSHA256Mismatch", ClientComputedContentSHA256=expected_hex,
                      S3ComputedContentSHA256=computed)
