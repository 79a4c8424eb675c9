"""Hypothesis-generated raw requests over a real socket to a running server.

Random methods, paths, query strings, headers and small bodies go to the Swift API (with a valid
token, so they reach the handlers), the S3 API (SigV4-signed, so they reach the handlers; the
fuzzed headers the signature does not cover are added after signing) and anonymously. Property:
every request gets an HTTP answer that is not a server error (501 Not Implemented is a protocol
answer), within a bounded time, and the server logs no traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakePair
from stackbox.s3.signature.canonical import (
    ALGORITHM_V4,
    canonical_headers,
    canonical_query,
    string_to_sign_v4,
)
from stackbox.s3.signature.keys import sign, signing_key
from swift.conftest import MakeUser, session

from .strategies import LATIN1, numberish

ANSWER_TIMEOUT = 20.0
MAX_RESPONSE_BYTES = 4 << 20
REGION = "us-east-1"
TEMP_URL_KEY = "fuzz-temp-url-key"

Headers = list[tuple[bytes, bytes]]
RawRequest = tuple[str, str, Headers, bytes]  # method, request target, headers, body


@dataclass(frozen=True)
class Target:
    cloud: RunningCloud
    swift_account: str
    swift_token: str
    container: str
    pair: Ec2Pair
    bucket: str


@pytest.fixture(scope="module")
def target(cloud: RunningCloud, make_user: MakeUser, make_pair: MakePair) -> Target:
    """A Swift container (a small object and an SLO) and an S3 bucket (a small object) of their own."""
    user = make_user("member")
    token = session(cloud, user.name, user.password, user.project_name).get_token()
    container = f"fuzz-{uuid.uuid4().hex[:8]}"
    base = f"{cloud.object_url}/v1/{user.account}/{container}"
    headers = {"X-Auth-Token": token}
    requests.put(base, headers=headers, timeout=30).raise_for_status()
    key_header = {"X-Account-Meta-Temp-URL-Key": TEMP_URL_KEY}
    requests.post(f"{cloud.object_url}/v1/{user.account}", headers={**headers, **key_header},
                  timeout=30).raise_for_status()
    requests.put(f"{base}/o", data=b"0123456789", headers=headers, timeout=30).raise_for_status()
    manifest = json.dumps([{"path": f"/{container}/o"}, {"path": f"/{container}/o", "range": "2-5"}])
    requests.put(f"{base}/slo?multipart-manifest=put", data=manifest, headers=headers,
                 timeout=30).raise_for_status()
    bucket = f"fuzz-{uuid.uuid4().hex[:8]}"
    target = Target(cloud, user.account, token, container, make_pair("member"), bucket)
    for path, body in ((f"/{target.bucket}", b""), (f"/{target.bucket}/k", b"0123456789")):
        status, _ = send(cloud.object_port, "PUT", path, s3_headers(target, "PUT", path, "", [], body), body)
        assert status == 200, (path, status)
    return target


# ------------------------------------------------------------------------------------------ wire


def send(port: int, method: str, target: str, headers: Headers, body: bytes) -> tuple[int, bytes]:
    """One request on a fresh connection; (status, head of the response). Fails on no answer in time."""
    head = f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    head += f"Host: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    response = bytearray()
    deadline = time.monotonic() + ANSWER_TIMEOUT
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT) as sock:
        sock.sendall(head + body)
        while len(response) < MAX_RESPONSE_BYTES and time.monotonic() < deadline:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            response += piece
    status_line = bytes(response).split(b"\r\n", 1)[0].split(b" ")
    assert len(status_line) >= 2 and status_line[1].isdigit(), f"no HTTP answer: {bytes(response[:200])!r}"
    return int(status_line[1]), bytes(response[:2048])


def s3_headers(target: Target, method: str, path: str, query: str, amz_headers: list[tuple[str, str]],
               body: bytes) -> Headers:
    """SigV4 headers for the request (UNSIGNED-PAYLOAD), signing `amz_headers` too."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    pairs = [("host", f"127.0.0.1:{target.cloud.object_port}"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
             ("x-amz-date", amz_date), *amz_headers]
    raw = [(name.encode(), value.encode("latin-1")) for name, value in pairs]
    signed = sorted({name for name, _ in pairs})
    canonical = "\n".join((method, path, canonical_query(query), canonical_headers(raw, signed),
                           ";".join(signed), "UNSIGNED-PAYLOAD"))
    key = signing_key(target.pair.secret, amz_date[:8], REGION)
    signature = sign(key, string_to_sign_v4(amz_date, scope, canonical))
    authorization = (f"{ALGORITHM_V4} Credential={target.pair.access}/{scope}, "
                     f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return [*(item for item in raw if item[0] != b"host"), (b"authorization", authorization.encode())]


# ------------------------------------------------------------------------------------ strategies

HEADER_VALUE = st.text(LATIN1.filter(lambda char: char not in "\r\n"), max_size=80)
PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
SWIFT_HEADERS = ["Range", "X-Delete-At", "X-Delete-After", "X-Object-Manifest", "X-Copy-From", "Destination",
                 "X-Container-Read", "X-Container-Write", "X-Object-Meta-A", "If-Match", "If-None-Match",
                 "If-Modified-Since", "Content-Type", "X-Account-Meta-Temp-URL-Key", "Referer", "Accept",
                 "X-Remove-Container-Read", "X-Container-Meta-Quota-Bytes", "Etag", "X-Newest"]
SWIFT_QUERY = ["multipart-manifest", "format", "limit", "marker", "end_marker", "prefix", "delimiter", "path",
               "reverse", "temp_url_sig", "temp_url_expires", "temp_url_prefix", "extract-archive",
               "bulk-delete", "filename", "inline"]
S3_HEADERS = ["Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "Content-MD5",
              "Content-Type", "Expect", "Cache-Control"]
S3_AMZ_HEADERS = ["x-amz-acl", "x-amz-copy-source", "x-amz-copy-source-range", "x-amz-tagging",
                  "x-amz-metadata-directive", "x-amz-meta-a", "x-amz-checksum-mode", "x-amz-checksum-crc32",
                  "x-amz-object-attributes", "x-amz-max-parts", "x-amz-grant-read", "x-amz-storage-class"]
S3_QUERY = ["acl", "tagging", "uploads", "uploadId", "partNumber", "delete", "location", "list-type",
            "max-keys", "prefix", "delimiter", "continuation-token", "start-after", "marker", "versioning",
            "attributes", "response-content-type", "max-parts", "part-number-marker", "encoding-type"]
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS", "PATCH"]
BODIES = [b'[{"path": "/c/o"}]', b'[{"path": "/c/o", "range": "\xc2\xb2-"}]', b"[" * 500,
          b"<Delete><Object><Key>k</Key></Object></Delete>",
          b"<CompleteMultipartUpload><Part><PartNumber>\xc2\xb2</PartNumber><ETag>e</ETag></Part>"
          b"</CompleteMultipartUpload>",
          b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>",
          b'--b\r\nContent-Disposition: form-data; name="expires"\r\n\r\n\xb2\r\n--b--\r\n']


def _value() -> st.SearchStrategy[str]:
    known = st.sampled_from(["bytes=0-1", "bytes=0-\u00b2", "bytes=-3,0-1,2-", "*", "true", "0", "-1",
                             "application/json", "multipart/form-data; boundary=b", "c/o", "/c/o"])
    return st.one_of(HEADER_VALUE, numberish(20, latin1=True), known)


def _headers(names: list[str]) -> st.SearchStrategy[Headers]:
    token = st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":")
    name = st.one_of(st.sampled_from(names), st.text(token, min_size=1, max_size=20))
    pairs = st.lists(st.tuples(name, _value()), max_size=6)
    return pairs.map(lambda items: [(key.encode(), value.encode("latin-1")) for key, value in items])


def _segment() -> st.SearchStrategy[str]:
    return st.one_of(st.text(LATIN1, max_size=20).map(lambda text: quote(text.encode("latin-1"), safe="")),
                     st.sampled_from(["", "o", "slo", "k", "%00", "%C2%B2", "..", "%2F"]))


def _query(names: list[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(st.sampled_from(names), st.sampled_from(["", "="]),
                     st.one_of(_segment(), numberish(8).map(lambda text: quote(text, safe=""))))
    return st.lists(pair.map("".join), max_size=4).map("&".join)


def _body() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), st.sampled_from(BODIES))


def _with_query(path: str, query: str) -> str:
    return path + (f"?{query}" if query else "")


@st.composite
def swift_requests(draw: st.DrawFn, target: Target) -> RawRequest:
    container = draw(st.sampled_from([target.container, target.container, ""]) | _segment())
    obj = draw(st.sampled_from(["o", "slo", ""]) | _segment())
    path = "/".join(part for part in (f"/v1/{target.swift_account}", container, obj) if part)
    headers = draw(_headers(SWIFT_HEADERS))
    if draw(st.booleans()):
        headers.append((b"X-Auth-Token", target.swift_token.encode()))
    query = draw(_query(SWIFT_QUERY))
    return draw(st.sampled_from(METHODS)), _with_query(path, query), headers, draw(_body())


@st.composite
def s3_requests(draw: st.DrawFn, target: Target) -> RawRequest:
    bucket = draw(st.sampled_from([target.bucket, target.bucket, ""]) | _segment())
    key = draw(st.sampled_from(["k", ""]) | _segment())
    path = "/" + "/".join(part for part in (bucket, key) if part)
    query = draw(_query(S3_QUERY))
    method = draw(st.sampled_from(METHODS[:5]))
    amz_value = st.one_of(PRINTABLE, numberish(20, latin1=True)).map(str.strip)
    amz = draw(st.lists(st.tuples(st.sampled_from(S3_AMZ_HEADERS), amz_value), max_size=3,
                        unique_by=lambda header: header[0]))
    unsigned = draw(_headers(S3_HEADERS))
    body = draw(_body())
    if draw(st.booleans()):
        return method, _with_query(path, query), unsigned, body
    signed = s3_headers(target, method, path, query, amz, body)
    return method, _with_query(path, query), [*signed, *unsigned], body


@st.composite
def anonymous_requests(draw: st.DrawFn) -> RawRequest:
    method = draw(st.sampled_from(METHODS) | st.text(st.characters(min_codepoint=65, max_codepoint=90),
                                                     min_size=1, max_size=8))
    path = "/" + "/".join(draw(st.lists(_segment(), max_size=4)))
    query = draw(_query(SWIFT_QUERY + S3_QUERY))
    return method, _with_query(path, query), draw(_headers(SWIFT_HEADERS + S3_HEADERS)), draw(_body())


def temp_url(method: str, path: str, expires: str) -> str:
    """`path` with a TempURL signature (sha256, the account key) for `method` until `expires`."""
    signature = hmac.new(TEMP_URL_KEY.encode(), f"{method}\n{expires}\n{path}".encode("latin-1"),
                         hashlib.sha256).hexdigest()
    return f"{path}?temp_url_sig={signature}&temp_url_expires={quote(expires, safe='')}"


@st.composite
def temp_url_requests(draw: st.DrawFn, target: Target) -> RawRequest:
    """Validly signed TempURLs with odd expiry times (the signature covers them as sent)."""
    method = draw(st.sampled_from(["GET", "HEAD", "PUT"]))
    path = f"/v1/{target.swift_account}/{target.container}/{draw(st.sampled_from(['o', 'slo', 't']))}"
    # The draw is an offset, not an instant: a bound read from the clock moves between a draw and its
    # replay (while shrinking), which hypothesis reports as FlakyStrategyDefinition.
    far = st.integers(60, 10**25).map(lambda ahead: str(int(time.time()) + ahead))
    iso = st.integers(2030, 12000).map(lambda year: f"{year}-01-01T00:00:00Z")
    expires = draw(st.one_of(far, iso, numberish(30, latin1=True)))
    return method, temp_url(method, path, expires), draw(_headers(SWIFT_HEADERS)), draw(_body())


def _requests(target: Target) -> st.SearchStrategy[RawRequest]:
    return st.one_of(swift_requests(target), s3_requests(target), anonymous_requests(),
                     temp_url_requests(target))


# ----------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def log_offset(target: Target) -> Iterator[list[int]]:
    yield [len(target.cloud.log())]


def _check(target: Target, offset: list[int], request: RawRequest) -> None:
    method, path, headers, body = request
    status, head = send(target.cloud.object_port, method, path, headers, body)
    log = target.cloud.log()
    new_log, offset[0] = log[offset[0]:], len(log)
    assert "Traceback" not in new_log, new_log[-3000:]
    assert not (status >= 500 and status != 501), head.decode("latin-1")


def _placed(target: Target, request: RawRequest) -> RawRequest:
    """Fill the explicit examples' placeholders and authenticate them: a Swift token, or a SigV4
    signature over the query and the `x-amz-*` headers."""
    method, target_path, headers, body = request
    names = {"{bucket}": target.bucket, "{account}": target.swift_account, "{container}": target.container}
    for placeholder, value in names.items():
        target_path = target_path.replace(placeholder, value)
        body = body.replace(placeholder.encode(), value.encode())
        headers = [(name, header.replace(placeholder.encode(), value.encode())) for name, header in headers]
    if target_path.startswith("/v1/"):
        return method, target_path, [*headers, (b"X-Auth-Token", target.swift_token.encode())], body
    if "{bucket}" not in request[1]:
        return method, target_path, headers, body
    path, _, query = target_path.partition("?")
    amz = [(name.decode(), value.decode("latin-1")) for name, value in headers if name.startswith(b"x-amz-")]
    others = [(name, value) for name, value in headers if not name.startswith(b"x-amz-")]
    return method, target_path, [*s3_headers(target, method, path, query, amz, body), *others], body


def test_raw_requests(target: Target, log_offset: list[int]) -> None:
    @given(_requests(target))
    @example(("GET", "/{bucket}/k", [(b"Range", b"bytes=0-\xb2")], b""))
    @example(("GET", "/{bucket}/k?partNumber=%C2%B2", [], b""))
    @example(("GET", "/{bucket}/k?attributes", [(b"x-amz-object-attributes", b"ObjectParts"),
                                                  (b"x-amz-max-parts", b"\xb2")], b""))
    @example(("PUT", "/{bucket}/c", [(b"x-amz-copy-source", b"/{bucket}/k"),
                                     (b"x-amz-copy-source-range", b"bytes=0-" + b"9" * 30)], b""))
    @example(("GET", "/v1/{account}/{container}/o", [(b"Range", b"bytes=0-\xb2")], b""))
    @example(("PUT", "/v1/{account}/{container}/m?multipart-manifest=put", [],
              b'[{"path": "/{container}/o", "range": "\xc2\xb2-"}]'))
    @example(("GET", "/v1/{account}/{container}", [(b"Referer", b"http://[")], b""))
    @example(("PUT", "/v1/{account}/{container}/d", [(b"X-Delete-At", b"9" * 400)], b""))
    def run(request: RawRequest) -> None:
        _check(target, log_offset, _placed(target, request))

    run()


def test_temp_url_far_expiry(target: Target, log_offset: list[int]) -> None:
    """A TempURL valid until after year 9999 (an Expires header cannot say when)."""
    path = f"/v1/{target.swift_account}/{target.container}/o"
    _check(target, log_offset, ("GET", temp_url("GET", path, str(10**12)), [], b""))
