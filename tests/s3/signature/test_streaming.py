"""aws-chunked bodies: AWS's published SigV4 streaming example, botocore's trailer encoding, boto3's
own default PutObject, and malformed framing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.httpchecksum import AwsChunkedWrapper, CrtCrc32Checksum, CrtCrc64NvmeChecksum, Sha256Checksum

from s3.signature.signature_helpers import (
    ACCESS,
    CONTEXT,
    CREDENTIALS,
    REGION,
    SECRET,
    auth,
    from_botocore,
    make_request,
    read_body,
)
from stackbox.auth import Ec2Secret
from stackbox.http import Request
from stackbox.s3.errors import S3Error
from stackbox.s3.signature import AuthResult, PayloadMode, authenticate
from stackbox.s3.signature.checksums import Checksum
from stackbox.s3.signature.streaming import MAX_TRAILING_BLANK, AwsChunkedDecoder

ENDPOINT = "http://127.0.0.1:8080"

# The example of "Signature Calculations for the Authorization Header: Transferring Payload in
# Multiple Chunks" in the Amazon S3 API reference.
AWS_ACCESS = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_NOW = 1369353600.0  # 20130524T000000Z
AWS_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
AWS_CHUNK_SIGNATURES = ("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")


def aws_example_body(signatures: tuple[str, ...] = AWS_CHUNK_SIGNATURES, data: bytes = b"a" * 66560) -> bytes:
    return (b"10000;chunk-signature=" + signatures[0].encode() + b"\r\n" + data[:65536] + b"\r\n"
            + b"400;chunk-signature=" + signatures[1].encode() + b"\r\n" + data[65536:] + b"\r\n"
            + b"0;chunk-signature=" + signatures[2].encode() + b"\r\n\r\n")


def aws_example_request(body: bytes, piece_size: int = 65536) -> Request:
    headers = [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("authorization", f"AWS4-HMAC-SHA256 Credential={AWS_ACCESS}/20130524/us-east-1/s3/aws4_request,"
                          "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                          f"x-amz-decoded-content-length;x-amz-storage-class,Signature={AWS_SEED}"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
    ]
    url = "http://s3.amazonaws.com/examplebucket/chunkObject.txt"
    return make_request("PUT", url, headers, body, piece_size)


def aws_lookup(access: str) -> Ec2Secret | None:
    return Ec2Secret(AWS_ACCESS, AWS_SECRET, CONTEXT) if access == AWS_ACCESS else None


def authenticate_aws_example(request: Request) -> AuthResult:
    result = authenticate(request, aws_lookup, region="us-east-1", now=AWS_NOW)
    assert result is not None
    return result


@pytest.mark.parametrize("piece_size", [1, 7, 87, 88, 89, 4096, 65536, 1 << 20])
def test_aws_streaming_example_decodes_across_any_read_boundaries(piece_size: int) -> None:
    request = aws_example_request(aws_example_body(), piece_size)
    result = authenticate_aws_example(request)
    assert result.payload is PayloadMode.STREAMING_SIGNED
    assert result.content_length == 66560
    assert read_body(result, request) == b"a" * 66560


@pytest.mark.parametrize("which", [0, 1, 2])
def test_aws_streaming_example_wrong_chunk_signature(which: int) -> None:
    signatures = list(AWS_CHUNK_SIGNATURES)
    signatures[which] = signatures[which][:-4] + "0000"
    request = aws_example_request(aws_example_body(tuple(signatures)))
    with pytest.raises(S3Error) as caught:
        read_body(authenticate_aws_example(request), request)
    assert caught.value.code == "SignatureDoesNotMatch"


def test_aws_streaming_example_tampered_data() -> None:
    request = aws_example_request(aws_example_body(data=b"a" * 60000 + b"b" + b"a" * (66560 - 60001)))
    with pytest.raises(S3Error) as caught:
        read_body(authenticate_aws_example(request), request)
    assert caught.value.code == "SignatureDoesNotMatch"


def test_aws_streaming_example_chunks_reordered() -> None:
    body = aws_example_body()
    first_end = 88 + 65536 + 2
    second_end = first_end + 86 + 1024 + 2
    swapped = body[first_end:second_end] + body[:first_end] + body[second_end:]
    request = aws_example_request(swapped)
    with pytest.raises(S3Error) as caught:
        read_body(authenticate_aws_example(request), request)
    assert caught.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("cut", [1000, 65626 + 10, 66824 - 40, 66824 - 86])
def test_aws_streaming_example_truncated(cut: int) -> None:
    request = aws_example_request(aws_example_body()[:cut])
    with pytest.raises(S3Error) as caught:
        read_body(authenticate_aws_example(request), request)
    assert caught.value.code == "IncompleteBody"


def test_seed_signature_must_match() -> None:
    request = aws_example_request(aws_example_body())
    with pytest.raises(S3Error) as caught:
        authenticate(request, aws_lookup, region="us-east-1", now=AWS_NOW + 3600)
    assert caught.value.code == "RequestTimeTooSkewed"


# --- STREAMING-UNSIGNED-PAYLOAD-TRAILER, encoded by botocore ----------------------------------------

CHECKSUM_CLASSES: dict[str, Any] = {"crc32": CrtCrc32Checksum, "crc64nvme": CrtCrc64NvmeChecksum,
                                    "sha256": Sha256Checksum}


def unsigned_trailer_request(data: bytes, algorithm: str = "crc32", chunk_size: int = 8192,
                             decoded_length: int | None = None, body_override: bytes | None = None,
                             piece_size: int = 65536) -> Request:
    name = f"x-amz-checksum-{algorithm}"
    wrapper = AwsChunkedWrapper(io.BytesIO(data), CHECKSUM_CLASSES[algorithm], name, chunk_size)
    body = body_override if body_override is not None else wrapper.read()
    headers = {"Content-Encoding": "aws-chunked", "x-amz-trailer": name,
               "x-amz-decoded-content-length": str(len(data) if decoded_length is None else decoded_length),
               "Content-Length": str(len(body))}
    aws_request = AWSRequest(method="PUT", url=f"{ENDPOINT}/bucket/key", data=body, headers=headers)
    aws_request.context["checksum"] = {"request_algorithm": {"in": "trailer", "name": name}}
    S3SigV4Auth(CREDENTIALS, "s3", REGION).add_auth(aws_request)
    return from_botocore(aws_request, piece_size)


@pytest.mark.parametrize("algorithm", sorted(CHECKSUM_CLASSES))
@pytest.mark.parametrize("size", [0, 1, 8192, 100_000])
def test_unsigned_trailer_passes_and_exposes_the_checksum(algorithm: str, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    request = unsigned_trailer_request(data, algorithm, piece_size=1000)
    result = auth(request)
    assert result.payload is PayloadMode.STREAMING_UNSIGNED_TRAILER
    assert read_body(result, request) == data
    expected = CHECKSUM_CLASSES[algorithm]()
    expected.update(data)
    assert result.checksum == Checksum(algorithm, expected.b64digest())


def test_unsigned_trailer_wrong_checksum() -> None:
    good = AwsChunkedWrapper(io.BytesIO(b"hello"), CrtCrc32Checksum, "x-amz-checksum-crc32", 8192).read()
    bad = good.split(b"x-amz-checksum-crc32:")[0] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    request = unsigned_trailer_request(b"hello", body_override=bad)
    with pytest.raises(S3Error) as caught:
        read_body(auth(request), request)
    assert (caught.value.code, caught.value.message) == (
        "BadDigest", "The CRC32 you specified did not match the calculated checksum.")


@pytest.mark.parametrize(("body", "code"), [
    (b"5\r\nhello\r\n0\r\n\r\n", "MalformedTrailerError"),  # the announced trailer never came
    (b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:!!\r\n\r\n", "InvalidRequest"),  # not base64
    (b"5\r\nhello\r\n0\r\nx-amz-checksum-sha1:qvTGHdzF6KLavt4PO0gs2a6pQ00=\r\n\r\n", "MalformedTrailerError"),
    (b"zz\r\nhello\r\n0\r\n\r\n", "InvalidRequest"),  # chunk size is not hex
    (b"5\r\nhelloXX0\r\n\r\n", "InvalidRequest"),  # no CRLF after the data
    (b"3\r\nhel\r\n0\r\n\r\n", "IncompleteBody"),  # shorter than x-amz-decoded-content-length
    (b"6\r\nhello!\r\n0\r\n\r\n", "InvalidRequest"),  # longer than announced
    (b"5\r\nhel", "IncompleteBody"),  # the connection ends mid-chunk
    (b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\ngarbage", "InvalidRequest"),
    (b"5" * 5000, "InvalidRequest"),  # a chunk header line without end
])
def test_malformed_framing(body: bytes, code: str) -> None:
    request = unsigned_trailer_request(b"hello", body_override=body, decoded_length=5, piece_size=3)
    with pytest.raises(S3Error) as caught:
        read_body(auth(request), request)
    assert caught.value.code == code
    assert caught.value.status == 400


def test_a_little_whitespace_after_the_body_is_accepted() -> None:
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n" + b" \r\n" * 1000
    request = unsigned_trailer_request(b"hello", body_override=body, piece_size=100)
    assert read_body(auth(request), request) == b"hello"


def test_endless_whitespace_after_the_final_chunk_is_refused_after_a_few_kib() -> None:
    read = 0

    async def endless_blank() -> AsyncIterator[bytes]:
        nonlocal read
        yield b"5\r\nhello\r\n0\r\n\r\n"
        while True:
            read += 1024
            yield b" " * 1024

    async def decode() -> bytes:
        decoder = AwsChunkedDecoder(decoded_length=5, signer=None, expected_trailer=None)
        return b"".join([piece async for piece in decoder.decode(endless_blank())])

    with pytest.raises(S3Error) as caught:
        asyncio.run(asyncio.wait_for(decode(), timeout=10))
    assert (caught.value.code, caught.value.status) == ("InvalidRequest", 400)
    assert read <= MAX_TRAILING_BLANK + 1024


def test_trailer_without_the_closing_blank_line_is_accepted() -> None:
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n"
    request = unsigned_trailer_request(b"hello", body_override=body)
    assert read_body(auth(request), request) == b"hello"


def test_missing_decoded_content_length() -> None:
    request = unsigned_trailer_request(b"hello")
    request.headers.pop("x-amz-decoded-content-length")
    with pytest.raises(S3Error) as caught:
        auth(request)
    assert (caught.value.code, caught.value.status) == ("MissingContentLength", 411)


# --- STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, chunk chain computed here from the spec ----------------

class _SignedTrailerAuth(S3SigV4Auth):
    def payload(self, request: AWSRequest) -> str:
        return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode_signed(data: bytes, seed: str, amz_date: str, chunk_size: int, trailer: tuple[str, str],
                   corrupt_trailer_signature: bool = False) -> bytes:
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{SECRET}".encode(), amz_date[:8]), REGION), "s3"), "aws4_request")
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    empty = hashlib.sha256(b"").hexdigest()
    previous, out = seed, []
    for chunk in [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]:
        to_sign = (f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{empty}\n"
                   f"{hashlib.sha256(chunk).hexdigest()}")
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out.append(b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode()))
        if chunk:
            out.append(chunk + b"\r\n")
    trailer_line = f"{trailer[0]}:{trailer[1]}"
    to_sign = (f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n"
               f"{hashlib.sha256((trailer_line + chr(10)).encode()).hexdigest()}")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if corrupt_trailer_signature:
        signature = signature[::-1]
    out.append(f"{trailer_line}\r\nx-amz-trailer-signature:{signature}\r\n\r\n".encode())
    return b"".join(out)


def signed_trailer_request(data: bytes, trailer_value: str | None = None, corrupt: bool = False) -> Request:
    crc = CrtCrc32Checksum()
    crc.update(data)
    headers = {"Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-decoded-content-length": str(len(data))}
    aws_request = AWSRequest(method="PUT", url=f"{ENDPOINT}/bucket/key", headers=headers)
    _SignedTrailerAuth(CREDENTIALS, "s3", REGION).add_auth(aws_request)
    seed = aws_request.headers["Authorization"].rsplit("Signature=", 1)[1]
    body = _encode_signed(data, seed, aws_request.headers["X-Amz-Date"], 8192,
                          ("x-amz-checksum-crc32", trailer_value or crc.b64digest()), corrupt)
    aws_request.data = body
    return from_botocore(aws_request, piece_size=5000)


def test_signed_trailer_passes() -> None:
    data = b"0123456789" * 3000
    request = signed_trailer_request(data)
    result = auth(request)
    assert result.payload is PayloadMode.STREAMING_SIGNED_TRAILER
    assert read_body(result, request) == data
    assert result.checksum is not None and result.checksum.algorithm == "crc32"


def test_signed_trailer_bad_trailer_signature() -> None:
    request = signed_trailer_request(b"x" * 10000, corrupt=True)
    with pytest.raises(S3Error) as caught:
        read_body(auth(request), request)
    assert caught.value.code == "SignatureDoesNotMatch"


def test_signed_trailer_signed_but_wrong_checksum() -> None:
    request = signed_trailer_request(b"x" * 10000, trailer_value="AAAAAA==")
    with pytest.raises(S3Error) as caught:
        read_body(auth(request), request)
    assert caught.value.code == "BadDigest"


# --- boto3 itself, default configuration ---------------------------------------------------------------

class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def _capture(**kwargs: Any) -> None:
    raise _Captured(kwargs["request"])


def boto3_wire_request(operation: str, config: Config | None = None, endpoint: str = ENDPOINT,
                       **params: Any) -> Request:
    """The request boto3 would put on the wire for `operation`, as our server receives it."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS,
                          aws_secret_access_key=SECRET, config=config)
    client.meta.events.register("before-send.s3", _capture)
    with pytest.raises(_Captured) as captured:
        getattr(client, operation)(**params)
    sent = captured.value.request
    body = sent.body
    raw = body if isinstance(body, bytes) else body.read() if body is not None else b""
    headers = [(name, value.decode() if isinstance(value, bytes) else value)
               for name, value in sent.headers.items()]
    return make_request(sent.method, sent.url, headers, raw, piece_size=16384)


@pytest.mark.parametrize("algorithm", [None, "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_boto3_default_put_object(algorithm: str | None, scheme: str) -> None:
    """Over http boto3 signs the payload and sends the checksum as a header; over https (behind a
    TLS proxy) it sends an aws-chunked body with the checksum as a trailer."""
    data = b"boto3 payload " * 10000
    params = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    request = boto3_wire_request("put_object", endpoint=f"{scheme}://127.0.0.1:8443", Bucket="bucket",
                                 Key="dir/k ey+1", Body=data, **params)
    result = auth(request)
    assert result.is_chunked == (scheme == "https")
    assert read_body(result, request) == data
    assert result.checksum is not None
    assert result.checksum.algorithm == (algorithm or "CRC32").lower()


def test_boto3_path_and_virtual_style_requests() -> None:
    for config, bucket in ((Config(s3={"addressing_style": "path"}), None),
                           (Config(s3={"addressing_style": "virtual"}), "bucket")):
        request = boto3_wire_request("list_objects_v2", config, Bucket="bucket", Prefix="a b/ü",
                                     Delimiter="/")
        assert auth(request, virtual_bucket=bucket).secret.access == ACCESS


def test_boto3_delete_objects_with_content_checksum_header() -> None:
    request = boto3_wire_request("delete_objects", Bucket="bucket",
                                 Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    result = auth(request)
    body = read_body(result, request)
    assert b"<Key>a</Key>" in body
    declared = [name for name in request.headers if name.startswith("x-amz-checksum-")]
    assert declared and result.checksum is not None


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_header_checksum_mismatch(scheme: str) -> None:
    wrong = base64.b64encode(b"\0\0\0\0").decode()
    request = boto3_wire_request("put_object", endpoint=f"{scheme}://127.0.0.1:8443", Bucket="bucket",
                                 Key="k", Body=b"abc", ChecksumCRC32=wrong)
    result = auth(request)
    with pytest.raises(S3Error) as caught:
        read_body(result, request)
    assert caught.value.code == "BadDigest"
