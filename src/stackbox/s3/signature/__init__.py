"""S3 request authentication: SigV4 and SigV2, in the `Authorization` header or presigned in the
query string, and the integrity of the request body (`x-amz-content-sha256`, `aws-chunked` with
chunk signatures and trailers, `x-amz-checksum-*`).

Use:

    auth = authenticate(request, lookup, region=config.region, virtual_bucket=bucket_from_host)
    if auth is None:  # anonymous request
        ...
    limit = auth.content_length  # decoded length for aws-chunked bodies
    async for piece in auth.body(request.stream()):
        ...  # write to a temporary file; nothing is verified until the iterator is exhausted
    stored_checksum = auth.checksum  # verified x-amz-checksum-*, header or trailer, if any

Every failure raises `stackbox.s3.errors.S3Error` with the code and message S3 gives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from stackbox.auth import AuthContext, Ec2Secret
from stackbox.digits import decimal
from stackbox.http import Request
from stackbox.s3.errors import S3Error
from stackbox.s3.signature.canonical import (
    canonical_headers,
    canonical_query,
    canonical_request_v4,
    canonical_resource_v2,
    check_skew,
    format_amz_date,
    parse_amz_date,
    request_time,
    s3_encoded_path,
    string_to_sign_v2,
    string_to_sign_v4,
    unsigned_headers,
)
from stackbox.s3.signature.checksums import (
    ALGORITHMS,
    Checksum,
    ChecksumHasher,
    algorithm_of_header,
    checksum_from_headers,
    verify,
)
from stackbox.s3.signature.header import (
    V4Authorization,
    check_v4_scope,
    parse_v2_authorization,
    parse_v4_authorization,
    unsupported_authorization,
)
from stackbox.s3.signature.keys import sign, signing_key
from stackbox.s3.signature.query import (
    check_v4_validity,
    is_v2_presigned,
    is_v4_presigned,
    parse_v2_presigned,
    parse_v4_presigned,
)
from stackbox.s3.signature.secrets import SecretLookup, known_secret
from stackbox.s3.signature.streaming import AwsChunkedDecoder, ChunkSigner, verify_sha256
from stackbox.storage.pipeline import background_hashing

__all__ = ["AuthResult", "Checksum", "PayloadMode", "SecretLookup", "authenticate"]

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_ONE_MECHANISM = ("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
                  "query string parameter or the Authorization header should be specified")


class PayloadMode(StrEnum):
    """How the request body is protected, from `x-amz-content-sha256`."""

    UNSIGNED = "UNSIGNED-PAYLOAD"
    SHA256 = "SHA256"  #: a hex digest of the whole body was signed
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


_LITERAL_MODES = {mode.value: mode for mode in PayloadMode if mode is not PayloadMode.SHA256}
_CHUNKED_MODES = frozenset({PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER,
                            PayloadMode.STREAMING_UNSIGNED_TRAILER})
_TRAILER_MODES = frozenset({PayloadMode.STREAMING_SIGNED_TRAILER, PayloadMode.STREAMING_UNSIGNED_TRAILER})


@dataclass(slots=True)
class AuthResult:
    """An authenticated S3 request and what its body reader needs."""

    secret: Ec2Secret
    version: int  #: 2 or 4
    payload: PayloadMode
    headers: Mapping[str, str] = field(repr=False)
    content_sha256: str | None = None  #: the signed hex digest, in SHA256 mode
    chunk_signer: ChunkSigner | None = field(default=None, repr=False)
    decoded_length: int | None = None  #: x-amz-decoded-content-length, for aws-chunked bodies
    trailer: str | None = None  #: the announced trailing header (x-amz-trailer), lower case
    checksum: Checksum | None = None  #: set once body() has been drained and the checksum verified

    @property
    def context(self) -> AuthContext:
        return self.secret.context

    @property
    def access_key(self) -> str:
        return self.secret.access

    @property
    def is_chunked(self) -> bool:
        return self.payload in _CHUNKED_MODES

    @property
    def content_length(self) -> int | None:
        """The payload length the client announced (decoded length for aws-chunked bodies)."""
        if self.decoded_length is not None:
            return self.decoded_length
        length = self.headers.get("content-length")
        return decimal(length) if length is not None else None

    def body(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The payload of `stream` (the raw request body), decoded and verified: chunk and trailer
        signatures, the signed SHA-256, the x-amz-checksum-* header or trailer. The final checks
        raise when the stream ends, so drain it completely before committing anything."""
        decoder: AwsChunkedDecoder | None = None
        if self.payload in _CHUNKED_MODES:
            decoder = AwsChunkedDecoder(decoded_length=self.decoded_length or 0, signer=self.chunk_signer,
                                        expected_trailer=self.trailer)
            payload = decoder.decode(stream)
        elif self.content_sha256 is not None:
            payload = verify_sha256(stream, self.content_sha256)
        else:
            payload = stream
        return self._checked(payload, decoder)

    async def _checked(self, payload: AsyncIterator[bytes],
                       decoder: AwsChunkedDecoder | None) -> AsyncIterator[bytes]:
        declared = checksum_from_headers(self.headers)
        algorithm = declared.algorithm if declared else algorithm_of_header(self.trailer or "")
        if algorithm is None:
            async for piece in payload:
                yield piece
            return
        hasher = ChecksumHasher(algorithm)
        hashing = background_hashing(hasher.update)
        try:
            async for piece in payload:
                await hashing.add(piece)
                yield piece
            await hashing.finish()
        finally:
            hashing.cancel()
        if declared is None and decoder is not None and self.trailer is not None:
            declared = Checksum(algorithm, decoder.trailers[self.trailer])
        computed = hasher.result()
        if declared is not None:
            verify(declared, computed)
        self.checksum = computed


def authenticate(request: Request, lookup: SecretLookup, *, region: str, now: float | None = None,
                 virtual_bucket: str | None = None) -> AuthResult | None:
    """Authenticate `request`; None if it carries no credentials at all (anonymous).

    `virtual_bucket` is the bucket named by the Host header of a virtual-hosted request: SigV2
    signs the resource as `/bucket/key`, while SigV4 signs the path as sent and ignores it.
    """
    now = time.time() if now is None else now
    authorization = request.headers.get("authorization")
    query_string = request.query_string
    presigned_v4 = "X-Amz-" in query_string and is_v4_presigned(request.query)
    presigned_v2 = not presigned_v4 and "Signature=" in query_string and is_v2_presigned(request.query)
    if authorization is not None:
        if presigned_v4 or presigned_v2:
            raise S3Error("InvalidArgument", _ONE_MECHANISM, ArgumentName="Authorization",
                          ArgumentValue=authorization)
        if authorization.startswith("AWS4-"):
            return _v4_header(request, authorization, lookup, region, now)
        if authorization.startswith("AWS "):
            return _v2_header(request, authorization, lookup, now, virtual_bucket)
        raise unsupported_authorization(authorization)
    if presigned_v4:
        return _v4_presigned(request, lookup, region, now)
    if presigned_v2:
        return _v2_presigned(request, lookup, now, virtual_bucket)
    return None


def _v4_header(request: Request, authorization: str, lookup: SecretLookup, region: str,
               now: float) -> AuthResult:
    parsed = parse_v4_authorization(authorization)
    headers = request.headers
    given_time, epoch = request_time(headers)
    amz_date = given_time if parse_amz_date(given_time) is not None else format_amz_date(epoch)
    check_v4_scope(parsed.credential, region=region, amz_date=amz_date)
    check_skew(epoch, given_time, now)
    payload_hash = headers.get("x-amz-content-sha256")
    if payload_hash is None:
        raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    mode = _payload_mode(payload_hash)
    _check_all_signed(headers, parsed, presigned=False)
    secret = known_secret(lookup, parsed.credential.access_key)
    key = _verify_v4(request, parsed, amz_date, payload_hash, secret, query_without=None)
    signer = ChunkSigner(key, amz_date, parsed.credential.scope, parsed.signature)
    return _result(secret, 4, mode, payload_hash, headers, signer)


def _v4_presigned(request: Request, lookup: SecretLookup, region: str, now: float) -> AuthResult:
    presigned = parse_v4_presigned(request.query, region=region)
    check_v4_validity(presigned, now)
    parsed = presigned.authorization
    payload_hash = request.headers.get("x-amz-content-sha256", PayloadMode.UNSIGNED.value)
    mode = _payload_mode(payload_hash)
    _check_all_signed(request.headers, parsed, presigned=True)
    secret = known_secret(lookup, parsed.credential.access_key)
    key = _verify_v4(request, parsed, presigned.amz_date, payload_hash, secret,
                     query_without="X-Amz-Signature")
    signer = ChunkSigner(key, presigned.amz_date, parsed.credential.scope, parsed.signature)
    return _result(secret, 4, mode, payload_hash, request.headers, signer)


def _check_all_signed(headers: Mapping[str, str], parsed: V4Authorization, *, presigned: bool) -> None:
    """A signature covers only its SignedHeaders: any other `x-amz-*` header (an ACL, a copy
    source) would act unsigned, so S3 refuses the request; `host` binds it to this endpoint."""
    unsigned = unsigned_headers(headers, parsed.signed_headers, presigned=presigned)
    if unsigned:
        raise S3Error("AccessDenied", "There were headers present in the request which were not signed",
                      HeadersNotSigned=", ".join(unsigned))


def _result(secret: Ec2Secret, version: int, mode: PayloadMode, payload_hash: str, headers: Mapping[str, str],
            signer: ChunkSigner | None) -> AuthResult:
    """The result for a verified request; `signer` is None for SigV2, which cannot sign chunks."""
    result = AuthResult(secret, version, mode, headers)
    if mode is PayloadMode.SHA256:
        result.content_sha256 = payload_hash
    elif mode in _CHUNKED_MODES:
        result.decoded_length = _decoded_length(headers)
        result.trailer = _announced_trailer(headers) if mode in _TRAILER_MODES else None
        if mode is not PayloadMode.STREAMING_UNSIGNED_TRAILER:
            if signer is None:
                raise S3Error("InvalidRequest", f"{mode.value} requires AWS Signature Version 4.")
            result.chunk_signer = signer
    return result


def _path_candidates(raw_path: str) -> Iterator[str]:
    yield raw_path
    reencoded = s3_encoded_path(raw_path)
    if reencoded != raw_path:
        yield reencoded


def _verify_v4(request: Request, parsed: V4Authorization, amz_date: str, payload_hash: str,
               secret: Ec2Secret, *, query_without: str | None) -> bytes:
    """Check the signature; the derived signing key if it matches (chunk signatures need it)."""
    credential = parsed.credential
    key = signing_key(secret.secret, credential.date, credential.region, credential.service)
    headers_block = canonical_headers(request.raw_headers, parsed.signed_headers)
    query = canonical_query(request.query_string, without=query_without)
    given = parsed.signature.encode("ascii", "replace")
    first: tuple[str, str] | None = None
    for path in _path_candidates(request.raw_path):
        canonical = canonical_request_v4(request.method, path, query, headers_block, parsed.signed_headers,
                                         payload_hash)
        to_sign = string_to_sign_v4(amz_date, credential.scope, canonical)
        if hmac.compare_digest(sign(key, to_sign).encode("ascii"), given):
            return key
        first = first or (to_sign, canonical)
    assert first is not None
    raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=credential.access_key, StringToSign=first[0],
                  SignatureProvided=parsed.signature, CanonicalRequest=first[1])


def _payload_mode(value: str) -> PayloadMode:
    mode = _LITERAL_MODES.get(value)
    if mode is not None:
        return mode
    if len(value) == 64 and _HEX_DIGITS.issuperset(value):
        return PayloadMode.SHA256
    if value.startswith("STREAMING-"):
        raise S3Error("NotImplemented", f"The x-amz-content-sha256 value {value} is not implemented.")
    raise S3Error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                  "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                  ArgumentName="x-amz-content-sha256", ArgumentValue=value)


def _decoded_length(headers: Mapping[str, str]) -> int:
    value = headers.get("x-amz-decoded-content-length")
    if value is None:
        raise S3Error("MissingContentLength")
    length = decimal(value)
    if length is None:
        raise S3Error("InvalidArgument", "x-amz-decoded-content-length is not a valid length.",
                      ArgumentName="x-amz-decoded-content-length", ArgumentValue=value)
    return length


def _announced_trailer(headers: Mapping[str, str]) -> str | None:
    trailer = headers.get("x-amz-trailer")
    if trailer is None:
        return None
    trailer = trailer.strip().lower()
    algorithm = algorithm_of_header(trailer)
    if algorithm is None or algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest", "The value specified in the x-amz-trailer header is not supported")
    return trailer


def _v2_header(request: Request, authorization: str, lookup: SecretLookup, now: float,
               virtual_bucket: str | None) -> AuthResult:
    parsed = parse_v2_authorization(authorization)
    given_time, epoch = request_time(request.headers)
    check_skew(epoch, given_time, now)
    date_line = "" if "x-amz-date" in request.headers else request.headers.get("date", "")
    secret = known_secret(lookup, parsed.access_key)
    _verify_v2(request, secret, parsed.signature, date_line, virtual_bucket)
    return _v2_result(secret, request.headers)


def _v2_presigned(request: Request, lookup: SecretLookup, now: float,
                  virtual_bucket: str | None) -> AuthResult:
    presigned = parse_v2_presigned(request.query, now)
    secret = known_secret(lookup, presigned.authorization.access_key)
    # An unencoded `+` in the base64 signature arrives as a space once the query is decoded.
    signature = presigned.authorization.signature.replace(" ", "+")
    _verify_v2(request, secret, signature, presigned.expires, virtual_bucket)
    return _v2_result(secret, request.headers)


def _v2_result(secret: Ec2Secret, headers: Mapping[str, str]) -> AuthResult:
    """SigV2 signs no payload, but a body that declares a SHA-256 or aws-chunked framing gets it honoured."""
    payload_hash = headers.get("x-amz-content-sha256", PayloadMode.UNSIGNED.value)
    return _result(secret, 2, _payload_mode(payload_hash), payload_hash, headers, None)


def _verify_v2(request: Request, secret: Ec2Secret, given: str, date_line: str,
               virtual_bucket: str | None) -> None:
    paths = [request.raw_path]
    if not virtual_bucket and request.raw_path.count("/") == 1 and len(request.raw_path) > 1:
        # botocore signs a bucket-level SigV2 URL as `/bucket/` but sends `/bucket`; AWS accepts both
        paths.append(request.raw_path + "/")
    expected = given.encode("ascii", "replace")
    to_sign = ""
    for path in paths:
        resource = canonical_resource_v2(path, request.query_string, virtual_bucket)
        to_sign = string_to_sign_v2(request.method, request.raw_headers, request.headers, date_line, resource)
        digest = hmac.new(secret.secret.encode("utf-8"), to_sign.encode("latin-1"), hashlib.sha1).digest()
        if hmac.compare_digest(base64.b64encode(digest), expected):
            return
    raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=secret.access, StringToSign=to_sign,
                  SignatureProvided=given)
