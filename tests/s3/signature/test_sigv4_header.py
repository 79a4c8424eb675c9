"""SigV4 in the Authorization header, signed by botocore's own S3 signer."""

from __future__ import annotations

import calendar
import time

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3.signature.signature_helpers import (
    CREDENTIALS,
    EC2,
    REGION,
    auth,
    from_botocore,
    lookup,
    make_request,
    read_body,
)
from stackbox.s3.errors import S3Error
from stackbox.s3.signature import PayloadMode, authenticate

ENDPOINT = "http://127.0.0.1:8080"

SHAPES = [
    ("GET", "/bucket/plain.txt", ""),
    ("GET", "/bucket", "list-type=2&prefix=a%20b&delimiter=%2F&encoding-type=url"),
    ("GET", "/bucket/dir/sub/file.bin", "a=2&a=1&b=&c"),
    ("PUT", "/bucket/unicode/%D0%BA%D0%BB%D1%8E%D1%87-%C3%A9.txt", ""),
    ("PUT", "/bucket/with%20space.txt", ""),
    ("PUT", "/bucket/plus%2Bsign", "tagging"),
    ("GET", "/bucket/tilde~x", "response-content-type=text%2Fplain&versionId=v%2B1"),
    ("DELETE", "/bucket/star%2A%21%27%28%29", "uploadId=abc~def"),
    ("GET", "/", ""),
]


def signed(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
           credentials: Credentials = CREDENTIALS, region: str = REGION) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    S3SigV4Auth(credentials, "s3", region).add_auth(request)
    return request


@pytest.mark.parametrize(("method", "path", "query"), SHAPES)
def test_botocore_signatures_pass_path_style(method: str, path: str, query: str) -> None:
    url = f"{ENDPOINT}{path}" + (f"?{query}" if query else "")
    request = from_botocore(signed(method, url, b"payload" if method == "PUT" else b""))
    result = auth(request)
    assert result.secret is EC2
    assert result.version == 4
    assert result.payload is PayloadMode.SHA256


@pytest.mark.parametrize(("method", "path", "query"), SHAPES)
def test_botocore_signatures_pass_virtual_hosted(method: str, path: str, query: str) -> None:
    key_path = path.removeprefix("/bucket") or "/"
    url = f"http://bucket.s3.example.test:8080{key_path}" + (f"?{query}" if query else "")
    assert auth(from_botocore(signed(method, url)), virtual_bucket="bucket").context.project_id == "p1"


def test_header_values_are_trimmed_and_folded() -> None:
    headers = {"x-amz-meta-note": "  two   spaces\tand tab  ", "Content-Type": "text/plain"}
    request = signed("PUT", f"{ENDPOINT}/bucket/k", b"x", headers)
    assert auth(from_botocore(request)).payload is PayloadMode.SHA256


def test_unencoded_path_characters_get_a_second_chance() -> None:
    request = signed("GET", f"{ENDPOINT}/bucket/it%27s%21")
    wire = from_botocore(request)
    wire.raw_path = "/bucket/it's!"
    assert auth(wire).secret is EC2


@pytest.mark.parametrize("tamper", ["method", "path", "query", "header", "secret", "date"])
def test_tampered_requests_fail(tamper: str) -> None:
    credentials = Credentials("AKIDSTACKBOXTEST", "not-the-secret") if tamper == "secret" else CREDENTIALS
    aws_request = signed("PUT", f"{ENDPOINT}/bucket/key?tagging", b"data",
                         {"x-amz-meta-color": "green"}, credentials)
    overrides: dict[str, str] = {}
    if tamper == "method":
        aws_request.method = "POST"
    elif tamper == "path":
        aws_request.url = f"{ENDPOINT}/bucket/other?tagging"
    elif tamper == "query":
        aws_request.url = f"{ENDPOINT}/bucket/key?acl"
    elif tamper == "header":
        overrides["x-amz-meta-color"] = "red"
    elif tamper == "date":
        signed_at = calendar.timegm(time.strptime(aws_request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        overrides["x-amz-date"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(signed_at - 1))
    with pytest.raises(S3Error) as caught:
        auth(from_botocore(aws_request, overrides=overrides))
    assert caught.value.code == "SignatureDoesNotMatch"
    assert caught.value.status == 403
    assert "StringToSign" in caught.value.extra


def test_tampered_body_fails_when_drained() -> None:
    aws_request = signed("PUT", f"{ENDPOINT}/bucket/key", b"original")
    headers = {name.lower(): str(value) for name, value in aws_request.headers.items()}
    request = make_request("PUT", aws_request.url, headers.items(), b"tampered")
    result = auth(request)
    with pytest.raises(S3Error) as caught:
        read_body(result, request)
    assert caught.value.code == "XAmzContentSHA256Mismatch"


def test_body_with_matching_sha256_passes() -> None:
    request = from_botocore(signed("PUT", f"{ENDPOINT}/bucket/key", b"x" * 200_000), piece_size=7000)
    assert read_body(auth(request), request) == b"x" * 200_000


@pytest.mark.parametrize(("offset", "ok"),
                         [(14 * 60, True), (-14 * 60, True), (16 * 60, False), (-16 * 60, False)])
def test_clock_skew(offset: int, ok: bool) -> None:
    request = from_botocore(signed("GET", f"{ENDPOINT}/bucket/key"))
    if ok:
        auth(request, now=time.time() + offset)
        return
    with pytest.raises(S3Error) as caught:
        auth(request, now=time.time() + offset)
    assert caught.value.code == "RequestTimeTooSkewed"
    assert caught.value.extra["MaxAllowedSkewMilliseconds"] == "900000"


def test_unknown_access_key() -> None:
    request = from_botocore(signed("GET", f"{ENDPOINT}/", credentials=Credentials("NOSUCHKEY", "x")))
    with pytest.raises(S3Error) as caught:
        auth(request)
    assert (caught.value.code, caught.value.status) == ("InvalidAccessKeyId", 403)
    assert caught.value.extra["AWSAccessKeyId"] == "NOSUCHKEY"


def test_wrong_region_names_the_right_one() -> None:
    request = from_botocore(signed("GET", f"{ENDPOINT}/", region="eu-west-1"))
    with pytest.raises(S3Error) as caught:
        auth(request)
    assert caught.value.code == "AuthorizationHeaderMalformed"
    assert "'eu-west-1' is wrong; expecting 'us-east-1'" in caught.value.message
    assert caught.value.extra["Region"] == "us-east-1"


def test_configured_region_is_honoured() -> None:
    assert auth(from_botocore(signed("GET", f"{ENDPOINT}/", region="eu-west-1")), region="eu-west-1")


def _with_authorization(value: str, **headers: str) -> S3Error:
    base = {"x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "authorization": value, **headers}
    with pytest.raises(S3Error) as caught:
        authenticate(make_request("GET", f"{ENDPOINT}/b/k", base.items()), lookup, region=REGION)
    return caught.value


def test_malformed_authorization_headers() -> None:
    today = time.strftime("%Y%m%d", time.gmtime())
    credential = f"Credential=AKIDSTACKBOXTEST/{today}/us-east-1/s3/aws4_request"
    missing = _with_authorization(f"AWS4-HMAC-SHA256 {credential}, SignedHeaders=host")
    assert missing.code == "AuthorizationHeaderMalformed" and "three components" in missing.message
    short = _with_authorization("AWS4-HMAC-SHA256 Credential=AK/us-east-1, SignedHeaders=host, Signature=00")
    assert short.code == "AuthorizationHeaderMalformed" and "Credential is mal-formed" in short.message
    service = _with_authorization(f"AWS4-HMAC-SHA256 Credential=AK/{today}/us-east-1/ec2/aws4_request, "
                                  "SignedHeaders=host, Signature=00")
    assert "incorrect service 'ec2'" in service.message
    stale = _with_authorization("AWS4-HMAC-SHA256 Credential=AK/20200101/us-east-1/s3/aws4_request, "
                                "SignedHeaders=host, Signature=00")
    assert "Invalid credential date" in stale.message
    assert _with_authorization("Bearer abc").code == "InvalidArgument"
    assert _with_authorization("AWS4-ECDSA-P256-SHA256 Credential=x").code == "InvalidArgument"
    http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    v2 = _with_authorization("AWS missing-colon", date=http_date)
    assert v2.code == "InvalidArgument"


def test_missing_or_invalid_date() -> None:
    error = _with_authorization("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=0",
                                **{"x-amz-date": "yesterday"})
    assert (error.code, error.status) == ("AccessDenied", 403)


def test_payload_hash_is_required_and_must_be_valid() -> None:
    aws_request = signed("GET", f"{ENDPOINT}/b/k")
    del aws_request.headers["X-Amz-Content-SHA256"]
    with pytest.raises(S3Error) as missing:
        auth(from_botocore(aws_request))
    assert missing.value.code == "InvalidRequest"
    with pytest.raises(S3Error) as invalid:
        auth(from_botocore(signed("GET", f"{ENDPOINT}/b/k"), overrides={"x-amz-content-sha256": "abc"}))
    assert invalid.value.code == "InvalidArgument"


def test_unsigned_amz_headers_are_refused() -> None:
    request = from_botocore(signed("GET", f"{ENDPOINT}/b/k"), overrides={"x-amz-meta-sneaky": "1"})
    with pytest.raises(S3Error) as caught:
        auth(request)
    assert caught.value.code == "AccessDenied"
    assert caught.value.extra["HeadersNotSigned"] == "x-amz-meta-sneaky"


def test_anonymous_request_is_none() -> None:
    assert authenticate(make_request("GET", f"{ENDPOINT}/b/k?list-type=2", []), lookup, region=REGION) is None


def test_header_and_query_auth_together_are_refused() -> None:
    request = from_botocore(signed("GET", f"{ENDPOINT}/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"))
    with pytest.raises(S3Error) as caught:
        auth(request)
    assert caught.value.code == "InvalidArgument"


def test_deleted_credential_stops_at_once() -> None:
    request = from_botocore(signed("GET", f"{ENDPOINT}/b/k"))
    with pytest.raises(S3Error) as caught:
        authenticate(request, lambda access: None, region=REGION)
    assert caught.value.code == "InvalidAccessKeyId"
