"""Fuzzing S3 authentication parsing: SigV4/SigV2 canonicalization, the Authorization header,
presigned query parameters and the whole `authenticate()` over arbitrary requests.

Property: every parser returns a value or raises S3Error (which the front end renders as S3's
error), never another exception. A request botocore signed must also authenticate.
"""

from __future__ import annotations

import contextlib
import time
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from hypothesis import example, given
from hypothesis import strategies as st

from s3.signature.signature_helpers import CREDENTIALS, REGION, from_botocore, lookup, make_request
from stackbox.s3.errors import S3Error
from stackbox.s3.signature import authenticate
from stackbox.s3.signature.canonical import (
    canonical_headers,
    canonical_query,
    canonical_resource_v2,
    parse_amz_date,
    parse_http_date,
    request_time,
    s3_encoded_path,
    string_to_sign_v2,
)
from stackbox.s3.signature.header import parse_v2_authorization, parse_v4_authorization
from stackbox.s3.signature.query import parse_v2_presigned, parse_v4_presigned

from .strategies import any_text, header_name, latin1_text, numberish, query_string, raw_headers

NOW = 1_790_000_000.0
AMZ_DATE = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(NOW))


@given(query_string(), st.sampled_from([None, "X-Amz-Signature", "acl"]))
def test_canonical_query(query: str, without: str | None) -> None:
    rendered = canonical_query(query, without=without)
    assert isinstance(rendered, str)
    assert rendered.isascii()


@given(latin1_text(120), query_string(), st.one_of(st.none(), latin1_text(30)))
def test_canonical_resource_v2_and_path(raw_path: str, query: str, bucket: str | None) -> None:
    assert isinstance(canonical_resource_v2(raw_path, query, bucket), str)
    assert s3_encoded_path(raw_path).isascii()


@given(raw_headers(), st.lists(header_name(), max_size=6, unique=True), latin1_text(40))
def test_string_to_sign(headers: list[tuple[bytes, bytes]], signed: list[str], date_line: str) -> None:
    block = canonical_headers(headers, signed)
    assert block.count("\n") >= len(signed)
    as_dict = {name.decode(): value.decode("latin-1") for name, value in headers}
    assert isinstance(string_to_sign_v2("PUT", headers, as_dict, date_line, "/b/k"), str)


@given(st.one_of(latin1_text(40), numberish(latin1=True), st.sampled_from([AMZ_DATE, "20260101T250000Z"])))
@example("2026\u00b2101T000000Z")
@example("99999999T999999Z")
def test_dates(text: str) -> None:
    for parser in (parse_amz_date, parse_http_date):
        parsed = parser(text)
        assert parsed is None or isinstance(parsed, float)
    for headers in ({"x-amz-date": text}, {"date": text}):
        with contextlib.suppress(S3Error):
            request_time(headers)


def _authorization_v4() -> st.SearchStrategy[str]:
    component = st.one_of(latin1_text(60), st.just(f"AKID/{AMZ_DATE[:8]}/{REGION}/s3/aws4_request"))
    names = st.lists(st.sampled_from(["Credential", "SignedHeaders", "Signature", "credential", ""]),
                     max_size=5)
    components = st.lists(component, min_size=5, max_size=5)
    return st.tuples(names, components, st.sampled_from([",", ", ", ";"])).map(
        lambda parts: "AWS4-HMAC-SHA256 " + parts[2].join(
            f"{name}={value}" for name, value in zip(parts[0], parts[1], strict=False)))


@given(st.one_of(_authorization_v4(), latin1_text(200)))
@example("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=")
@example("AWS4-HMAC-SHA256")
def test_authorization_headers(value: str) -> None:
    with contextlib.suppress(S3Error):
        parse_v4_authorization(value)
    with contextlib.suppress(S3Error):
        parse_v2_authorization(value)


def _presigned_query() -> st.SearchStrategy[dict[str, str]]:
    names = st.sampled_from(["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                             "X-Amz-SignedHeaders", "X-Amz-Expires", "AWSAccessKeyId", "Signature",
                             "Expires"])
    values = st.one_of(any_text(60), numberish(), st.sampled_from(["AWS4-HMAC-SHA256", AMZ_DATE, "host",
                                                                   f"AKID/{AMZ_DATE[:8]}/{REGION}/s3/aws4_request"]))
    return st.dictionaries(names, values, max_size=9)


@given(_presigned_query())
@example({"AWSAccessKeyId": "a", "Signature": "s", "Expires": "\u00b2"})
def test_presigned_parameters(query: dict[str, str]) -> None:
    with contextlib.suppress(S3Error):
        parse_v4_presigned(query, region=REGION)
    with contextlib.suppress(S3Error):
        parse_v2_presigned(query, NOW)


def _request_headers() -> st.SearchStrategy[list[tuple[str, str]]]:
    auth = st.one_of(_authorization_v4(), latin1_text(80).map(lambda text: "AWS " + text), latin1_text(40))
    sha = st.sampled_from(["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-X",
                           "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "e3b0" * 16, "zz"])
    pairs = st.one_of(
        st.tuples(st.just("authorization"), auth),
        st.tuples(st.just("x-amz-date"), st.one_of(st.just(AMZ_DATE), latin1_text(20))),
        st.tuples(st.just("x-amz-content-sha256"), st.one_of(sha, latin1_text(70))),
        st.tuples(st.sampled_from(["x-amz-decoded-content-length", "content-length", "x-amz-trailer"]),
                  st.one_of(numberish(latin1=True), latin1_text(30))),
        st.tuples(header_name(), latin1_text(60)),
    )
    return st.lists(pairs, max_size=8)


def _request_query() -> st.SearchStrategy[str]:
    presigned = _presigned_query().map(
        lambda query: "&".join(f"{quote(name)}={quote(value, safe='')}" for name, value in query.items()))
    return st.one_of(query_string(), presigned)


@given(latin1_text(60).map(lambda path: "/" + quote(path, safe="/")), _request_query(), _request_headers())
@example("/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDSTACKBOXTEST%2F20260101"
         "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=%C2%B2"
         "&X-Amz-SignedHeaders=host&X-Amz-Signature=00", [])
@example("/b/k", "AWSAccessKeyId=AKIDSTACKBOXTEST&Expires=99999999999999999999999&Signature=x", [])
def test_authenticate_arbitrary_requests(path: str, query: str, headers: list[tuple[str, str]]) -> None:
    request = make_request("PUT", f"http://s3.example{path}?{query}", headers)
    with contextlib.suppress(S3Error):
        result = authenticate(request, lookup, region=REGION, now=NOW)
        if result is not None:
            assert result.content_length is None or result.content_length >= 0


@given(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=40),
       st.dictionaries(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=10),
                       any_text(20), max_size=4),
       st.dictionaries(st.sampled_from(["x-amz-meta-a", "x-amz-acl", "content-type", "x-amz-tagging"]),
                       st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30), max_size=3))
def test_botocore_signed_requests_authenticate(key: str, params: dict[str, str],
                                               headers: dict[str, str]) -> None:
    """Round trip: whatever key, query and headers botocore signs (SigV4), we verify."""
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params.items())
    url = f"http://127.0.0.1:8080/bucket/{quote(key, safe='/~')}" + (f"?{query}" if query else "")
    aws_request = AWSRequest("GET", url, headers={**headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(CREDENTIALS, "s3", REGION).add_auth(aws_request)
    result = authenticate(from_botocore(aws_request), lookup, region=REGION)
    assert result is not None and result.version == 4


@given(st.sampled_from(["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"]),
       st.dictionaries(st.sampled_from(["x-amz-decoded-content-length", "content-length", "x-amz-trailer"]),
                       numberish(latin1=True).map(str.strip), max_size=3))
@example("UNSIGNED-PAYLOAD", {"content-length": "\u00b2"})
@example("STREAMING-UNSIGNED-PAYLOAD-TRAILER", {"x-amz-decoded-content-length": "\u00b9"})
def test_signed_length_headers(payload: str, headers: dict[str, str]) -> None:
    """Length headers are read only once the signature holds: sign them, then fuzz their values."""
    aws_request = AWSRequest("PUT", "http://127.0.0.1:8080/bucket/key",
                             headers={**headers, "x-amz-content-sha256": payload})
    S3SigV4Auth(CREDENTIALS, "s3", REGION).add_auth(aws_request)
    with contextlib.suppress(S3Error):
        result = authenticate(from_botocore(aws_request), lookup, region=REGION)
        assert result is not None
        assert result.content_length is None or result.content_length >= 0
