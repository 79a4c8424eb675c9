"""Bad input gets S3's error, the server keeps serving, and the stored data is unchanged."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import socket
import zlib
from collections.abc import Iterator
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.credentials import Credentials

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient

ORIGINAL = b"original data"


@pytest.fixture
def stored(s3: BaseClient, bucket: str) -> Iterator[str]:
    """A bucket holding `obj` = ORIGINAL, checked to be intact (and the server alive) afterwards."""
    s3.put_object(Bucket=bucket, Key="obj", Body=ORIGINAL)
    yield bucket
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == ORIGINAL


def sign(pair: Ec2Pair, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None,
         when: dt.datetime | None = None) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = S3SigV4Auth(Credentials(pair.access, pair.secret), "s3", "us-east-1")
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            signer.add_auth(request)
    return request


def send(request: AWSRequest, body: bytes | None = None) -> requests.Response:
    prepared = request.prepare()
    return requests.request(prepared.method, prepared.url, headers=dict(prepared.headers),
                            data=prepared.body if body is None else body, timeout=30)


def with_md5(body: bytes) -> dict[str, str]:
    """DeleteObjects needs a Content-MD5 (or checksum) header, as in S3."""
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def code_of(response: requests.Response) -> str:
    text = response.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


def expect(response: requests.Response, status: int, code: str) -> None:
    assert (response.status_code, code_of(response)) == (status, code), response.text


def test_malformed_xml_documents(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    base = f"{cloud.object_url}/{stored}"
    for url, body in [(f"{base}?delete", b"<Delete><Object><Key>obj</Key>"),
                      (f"{base}?delete", b"not xml at all"),
                      (f"{base}?delete", b"<Other/>"),
                      (f"{base}/obj?tagging", b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"),
                      ]:
        method = "POST" if "delete" in url else "PUT"
        expect(send(sign(member, method, url, body, with_md5(body))), 400, "MalformedXML")


def test_entity_expansion_is_refused(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<Delete><Object><Key>&b;</Key></Object></Delete>")
    expect(send(sign(member, "POST", f"{cloud.object_url}/{stored}?delete", bomb, with_md5(bomb))), 400,
           "MalformedXML")


def test_wrong_checksums_and_digests(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    url = f"{cloud.object_url}/{stored}/obj"
    wrong_crc = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    expect(send(sign(member, "PUT", url, b"new data", {"x-amz-checksum-crc32": wrong_crc})), 400, "BadDigest")
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    expect(send(sign(member, "PUT", url, b"new data", {"Content-MD5": wrong_md5})), 400, "BadDigest")
    expect(send(sign(member, "PUT", url, b"new data", {"Content-MD5": "not-base64!"})), 400, "InvalidDigest")
    expect(send(sign(member, "PUT", url, b"new data", {"x-amz-checksum-sha256": "short"})), 400,
           "InvalidRequest")


def test_payload_hash_mismatch(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    request = sign(member, "PUT", f"{cloud.object_url}/{stored}/obj", b"new data")
    expect(send(request, b"bad data"), 400, "XAmzContentSHA256Mismatch")


def test_clock_skew(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    response = send(sign(member, "PUT", f"{cloud.object_url}/{stored}/obj", b"late", when=past))
    expect(response, 403, "RequestTimeTooSkewed")


def test_limits(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    base = f"{cloud.object_url}/{stored}"
    big_meta = {"x-amz-meta-big": "x" * 2100}
    expect(send(sign(member, "PUT", f"{base}/obj", b"new", big_meta)), 400, "MetadataTooLarge")
    expect(send(sign(member, "PUT", f"{base}/{'k' * 1025}", b"new")), 400, "KeyTooLongError")
    expect(send(sign(member, "GET", f"{base}?list-type=2&max-keys=lots")), 400, "InvalidArgument")
    expect(send(sign(member, "GET", f"{base}?list-type=2&encoding-type=base64")), 400, "InvalidArgument")
    expect(send(sign(member, "PUT", f"{base}/obj?partNumber=1&uploadId=nope", b"x")), 404, "NoSuchUpload")
    expect(send(sign(member, "PATCH", f"{base}/obj")), 405, "MethodNotAllowed")


def test_oversized_single_put(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    status, body = raw_exchange(cloud, member, f"/{stored}/obj", declared_length=(5 << 30) + 1, sent=b"")
    assert status == 400 and b"<Code>EntityTooLarge</Code>" in body


def test_truncated_body_leaves_object_intact(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    raw_exchange(cloud, member, f"/{stored}/obj", declared_length=100_000, sent=b"x" * 1000, wait=False)
    raw_exchange(cloud, member, f"/{stored}/new", declared_length=100_000, sent=b"x" * 1000, wait=False)
    response = send(sign(member, "GET", f"{cloud.object_url}/{stored}/new"))
    expect(response, 404, "NoSuchKey")


def test_missing_content_length(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    status, body = raw_exchange(cloud, member, f"/{stored}/obj", declared_length=None, sent=b"")
    assert status == 411 and b"<Code>MissingContentLength</Code>" in body


def raw_exchange(cloud: RunningCloud, pair: Ec2Pair, path: str, *, declared_length: int | None, sent: bytes,
                 wait: bool = True) -> tuple[int, bytes]:
    """A PUT whose framing a normal client will not produce: a declared length that differs from
    what is sent (the connection then closes), or no length at all."""
    url = f"{cloud.object_url}{path}"
    request = _signed_unsigned_payload(pair, url)
    lines = [f"PUT {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()
              if name.lower() != "content-length"]
    if declared_length is not None:
        lines.append(f"Content-Length: {declared_length}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", cloud.object_port), timeout=10) as conn:
        conn.sendall(head + sent)
        if not wait:
            return 0, b""
        # The answer comes from the head alone. Read it without half-closing first: a balancer in
        # front of the node drops a request whose client closed in the middle of its declared body.
        response = http.client.HTTPResponse(conn)
        response.begin()
        return response.status, response.read()


def _signed_unsigned_payload(pair: Ec2Pair, url: str) -> AWSRequest:
    """SigV4 headers for a PUT with an UNSIGNED-PAYLOAD body."""
    request = AWSRequest(method="PUT", url=url, data=b"")
    signer = S3SigV4Auth(Credentials(pair.access, pair.secret), "s3", "us-east-1")
    with mock.patch.object(S3SigV4Auth, "payload", return_value="UNSIGNED-PAYLOAD"):
        signer.add_auth(request)
    return request


def test_short_aws_chunked_body(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    url = f"{cloud.object_url}/{stored}/obj"
    headers = {"x-amz-decoded-content-length": "100", "Content-Encoding": "aws-chunked"}
    request = AWSRequest(method="PUT", url=url, data=b"", headers=headers)
    signer = S3SigV4Auth(Credentials(member.access, member.secret), "s3", "us-east-1")
    with mock.patch.object(S3SigV4Auth, "payload", return_value="STREAMING-UNSIGNED-PAYLOAD-TRAILER"):
        signer.add_auth(request)
    expect(send(request, b"5\r\nhello\r\n0\r\n\r\n"), 400, "IncompleteBody")


def test_unsupported_features(cloud: RunningCloud, member: Ec2Pair, stored: str) -> None:
    base = f"{cloud.object_url}/{stored}"
    expect(send(sign(member, "GET", f"{base}?policy")), 404, "NoSuchBucketPolicy")
    website = b"<WebsiteConfiguration/>"
    expect(send(sign(member, "PUT", f"{base}?website", website)), 501, "NotImplemented")


def test_presigned_expiry_beyond_seven_days(make_client: MakeClient, member: Ec2Pair, stored: str) -> None:
    client = make_client(member, signature_version="s3v4")
    url = client.generate_presigned_url("get_object", Params={"Bucket": stored, "Key": "obj"},
                                        ExpiresIn=8 * 24 * 3600)
    expect(requests.get(url, timeout=10), 403, "AuthorizationQueryParametersError")  # 403, as AWS
