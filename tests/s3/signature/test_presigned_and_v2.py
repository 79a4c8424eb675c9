"""Presigned SigV4 and SigV2 URLs, and SigV2 in the Authorization header, signed by botocore."""

from __future__ import annotations

import time

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from s3.signature.signature_helpers import CREDENTIALS, EC2, REGION, auth, from_botocore, lookup, make_request
from stackbox.s3.errors import S3Error
from stackbox.s3.signature import PayloadMode, authenticate

ENDPOINT = "http://127.0.0.1:8080"
URLS = [
    f"{ENDPOINT}/bucket/dir/obj.txt",
    f"{ENDPOINT}/bucket/unicode/%E2%82%AC%20x+y~z.txt",
    f"{ENDPOINT}/bucket/key?response-content-disposition=attachment%3B%20filename%3D%22a%20b%22",
    f"{ENDPOINT}/bucket/key?uploadId=abc&partNumber=3",
    f"{ENDPOINT}/bucket?acl",
]


def presign_v4(method: str, url: str, expires: int = 300,
               credentials: Credentials = CREDENTIALS) -> AWSRequest:
    request = AWSRequest(method=method, url=url)
    S3SigV4QueryAuth(credentials, "s3", REGION, expires=expires).add_auth(request)
    return request


def presign_v2(method: str, url: str, expires: int = 300, auth_path: str | None = None) -> AWSRequest:
    request = AWSRequest(method=method, url=url)
    request.auth_path = auth_path
    HmacV1QueryAuth(CREDENTIALS, expires=expires).add_auth(request)
    return request


def sign_v2(method: str, url: str, headers: dict[str, str] | None = None, auth_path: str | None = None,
            credentials: Credentials = CREDENTIALS) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=headers or {})
    request.auth_path = auth_path
    HmacV1Auth(credentials).add_auth(request)
    return request


def error_of(request: AWSRequest, now: float | None = None, virtual_bucket: str | None = None) -> S3Error:
    with pytest.raises(S3Error) as caught:
        authenticate(from_botocore(request), lookup, region=REGION, now=now, virtual_bucket=virtual_bucket)
    return caught.value


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_presigned_v4_passes(url: str, method: str) -> None:
    result = auth(from_botocore(presign_v4(method, url)))
    assert (result.secret, result.version, result.payload) == (EC2, 4, PayloadMode.UNSIGNED)


def test_presigned_v4_virtual_hosted() -> None:
    assert auth(from_botocore(presign_v4("GET", "http://bucket.s3.test:8080/k%20ey"))).secret is EC2


def test_presigned_v4_expired() -> None:
    error = error_of(presign_v4("GET", URLS[0], expires=60), now=time.time() + 61)
    assert (error.code, error.message, error.status) == ("AccessDenied", "Request has expired", 403)
    assert error.extra["X-Amz-Expires"] == "60"


def test_presigned_v4_dated_in_the_future() -> None:
    error = error_of(presign_v4("GET", URLS[0]), now=time.time() - 3600)
    assert error.code == "AccessDenied"


def test_presigned_v4_seven_days_is_the_limit() -> None:
    assert auth(from_botocore(presign_v4("GET", URLS[0], expires=604800)), now=time.time() + 604000)
    error = error_of(presign_v4("GET", URLS[0], expires=604801))
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 403)
    assert error.message == ("X-Amz-Expires must be less than a week (in seconds); that is, the given "
                             "X-Amz-Expires must be less than 604800 seconds")


@pytest.mark.parametrize("tamper", ["signature", "path", "query", "method", "secret"])
def test_presigned_v4_tampered(tamper: str) -> None:
    credentials = Credentials(CREDENTIALS.access_key, "wrong") if tamper == "secret" else CREDENTIALS
    request = presign_v4("GET", URLS[3], credentials=credentials)
    if tamper == "signature":
        request.url = request.url[:-8] + "00000000"
    elif tamper == "path":
        request.url = request.url.replace("/key?", "/kez?")
    elif tamper == "query":
        request.url = request.url.replace("partNumber=3", "partNumber=4")
    elif tamper == "method":
        request.method = "DELETE"
    error = error_of(request)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert "X-Amz-Signature" not in error.extra["CanonicalRequest"]


@pytest.mark.parametrize(("expires", "message"), [("-1", "X-Amz-Expires must be non-negative"),
                                                   ("soon", "X-Amz-Expires should be a number")])
def test_presigned_v4_bad_expiry_is_403(expires: str, message: str) -> None:
    request = presign_v4("GET", URLS[0])
    request.url = request.url.replace("X-Amz-Expires=300", f"X-Amz-Expires={expires}")
    error = error_of(request)
    assert (error.code, error.status, error.message) == ("AuthorizationQueryParametersError", 403, message)


@pytest.mark.parametrize(("replace", "expected"), [
    ("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1"),
    ("X-Amz-Algorithm=AWS4-HMAC-SHA256&", ""),
    ("%2Fus-east-1%2F", "%2Feu-west-1%2F"),
    ("%2Fs3%2F", "%2Fs4%2F"),
])
def test_presigned_v4_bad_parameters(replace: str, expected: str) -> None:
    request = presign_v4("GET", URLS[0])
    assert replace in request.url
    request.url = request.url.replace(replace, expected)
    error = error_of(request)
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 400)


def test_presigned_v4_bad_date() -> None:
    request = presign_v4("GET", URLS[0])
    stamp = request.url.split("X-Amz-Date=")[1][:16]
    request.url = request.url.replace(stamp, "2026-01-01")
    assert error_of(request).code == "AuthorizationQueryParametersError"


@pytest.mark.parametrize("url", URLS)
def test_presigned_v2_passes(url: str) -> None:
    result = auth(from_botocore(presign_v2("GET", url)))
    assert (result.secret, result.version) == (EC2, 2)


def test_presigned_v2_virtual_hosted_signs_the_bucket() -> None:
    request = presign_v2("GET", "http://bucket.s3.test:8080/k", auth_path="/bucket/k")
    assert auth(from_botocore(request), virtual_bucket="bucket").secret is EC2
    assert error_of(request).code == "SignatureDoesNotMatch"


def test_presigned_v2_unencoded_plus_in_signature() -> None:
    for _ in range(40):  # a signature with a `+` comes along quickly
        request = presign_v2("GET", f"{ENDPOINT}/bucket/k{time.monotonic_ns()}")
        if "%2B" in request.url:
            request.url = request.url.replace("%2B", "+")
            assert auth(from_botocore(request)).secret is EC2
            return
    pytest.skip("no signature with a '+' was produced")


def test_presigned_v2_expired_tampered_incomplete() -> None:
    expired = error_of(presign_v2("GET", URLS[0], expires=10), now=time.time() + 11)
    assert expired.message == "Request has expired"
    tampered = presign_v2("GET", URLS[0])
    tampered.url = tampered.url.replace("Signature=", "Signature=AA")
    assert error_of(tampered).code == "SignatureDoesNotMatch"
    incomplete = presign_v2("GET", URLS[0])
    incomplete.url = incomplete.url.split("&Expires=")[0]
    assert error_of(incomplete).code == "AccessDenied"


@pytest.mark.parametrize("url", URLS)
def test_v2_header_passes(url: str) -> None:
    headers = {"Content-Type": "text/plain", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
               "x-amz-meta-color": "green, blue", "x-amz-acl": "private"}
    result = auth(from_botocore(sign_v2("PUT", url, headers)))
    assert (result.secret, result.version, result.payload) == (EC2, 2, PayloadMode.UNSIGNED)


def test_v2_header_virtual_hosted() -> None:
    request = sign_v2("GET", "http://bucket.s3.test:8080/a%20b?acl", auth_path="/bucket/a%20b")
    assert auth(from_botocore(request), virtual_bucket="bucket").secret is EC2


def test_v2_header_with_x_amz_date_signs_an_empty_date_line() -> None:
    # s3cmd's form: the Date line is empty because x-amz-date is present and signed as a header.
    import base64
    import hashlib
    import hmac

    stamp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    to_sign = f"GET\n\n\n\nx-amz-date:{stamp}\n/bucket/key"
    digest = hmac.new(EC2.secret.encode(), to_sign.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    headers = [("x-amz-date", stamp), ("authorization", f"AWS {EC2.access}:{signature}")]
    assert auth(make_request("GET", f"{ENDPOINT}/bucket/key", headers)).secret is EC2


@pytest.mark.parametrize("tamper", ["header", "subresource", "secret", "md5"])
def test_v2_header_tampered(tamper: str) -> None:
    credentials = Credentials(CREDENTIALS.access_key, "wrong") if tamper == "secret" else CREDENTIALS
    request = sign_v2("PUT", f"{ENDPOINT}/bucket/key?tagging", {"x-amz-meta-a": "1", "Content-MD5": "abc="},
                      credentials=credentials)
    overrides = {}
    if tamper == "header":
        overrides["x-amz-meta-a"] = "2"
    elif tamper == "md5":
        overrides["content-md5"] = "abd="
    elif tamper == "subresource":
        request.url = f"{ENDPOINT}/bucket/key?acl"
    with pytest.raises(S3Error) as caught:
        auth(from_botocore(request, overrides=overrides))
    assert caught.value.code == "SignatureDoesNotMatch"


def test_v2_ignores_parameters_that_are_not_subresources() -> None:
    request = sign_v2("GET", f"{ENDPOINT}/bucket?prefix=a&max-keys=2")
    assert auth(from_botocore(request)).secret is EC2


def test_v2_clock_skew_and_unknown_key() -> None:
    assert error_of(sign_v2("GET", URLS[0]), now=time.time() + 3600).code == "RequestTimeTooSkewed"
    unknown = sign_v2("GET", URLS[0], credentials=Credentials("NOPE", "x"))
    assert error_of(unknown).code == "InvalidAccessKeyId"


@pytest.mark.parametrize("header", ["date", "x-amz-date"])
def test_v2_date_before_the_epoch_is_not_a_valid_date(header: str) -> None:
    """S3 answers AccessDenied (not RequestTimeTooSkewed) to a SigV2 request dated before 1970."""
    import base64
    import hashlib
    import hmac

    stamp = "Tue, 07 Jul 1950 21:53:04 GMT"
    date_line, amz_line = (stamp, "") if header == "date" else ("", f"x-amz-date:{stamp}\n")
    to_sign = f"GET\n\n\n{date_line}\n{amz_line}/bucket/key"
    digest = hmac.new(EC2.secret.encode(), to_sign.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    request = make_request("GET", f"{ENDPOINT}/bucket/key",
                           [(header, stamp), ("authorization", f"AWS {EC2.access}:{signature}")])
    with pytest.raises(S3Error) as caught:
        authenticate(request, lookup, region=REGION)
    assert (caught.value.code, caught.value.status) == ("AccessDenied", 403)
    assert caught.value.message == "AWS authentication requires a valid Date or x-amz-date header"
