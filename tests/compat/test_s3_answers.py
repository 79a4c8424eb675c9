"""S3 error answers, compared with the reference s3api on what SDKs branch on: the status and the error code.

Every request of a scenario goes to both clouds; each answer of ours must have the reference's status and
`<Code>`, except the steps named in `AWS_WINS`, where s3api differs from AWS S3 and ours must give AWS's
documented answer instead (the reason is given with each).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable

import pytest
from botocore.credentials import Credentials

from cloud import RunningCloud
from compat.harness import REFERENCE_URL, Exchange, Side

Scenario = Callable[[Side, str], None]

#: label -> (status, code) AWS answers where s3api answers otherwise, and why.
AWS_WINS: dict[str, tuple[int, str, str]] = {
    "bucket tagging": (204, "", "s3api does not implement bucket tagging (501)"),
    "object tagging, wrong Content-MD5": (400, "BadDigest", "s3api does not implement object tagging"),
    "lifecycle of a bucket without one": (404, "NoSuchLifecycleConfiguration",
                                          "s3api ignores ?lifecycle and lists the bucket"),
    "policy of a bucket without one": (404, "NoSuchBucketPolicy", "s3api answers 501 NotImplemented"),
    "metadata over 2 KiB": (400, "MetadataTooLarge", "s3api answers InvalidRequest"),
    "complete without parts": (400, "MalformedXML",
                               "s3api answers InvalidRequest; AWS's schema wants a Part"),
    "abort a completed upload": (404, "NoSuchUpload", "s3api answers NoSuchKey"),
    "canned ACL and a grant header": (400, "InvalidRequest", "AWS refuses both ('Specifying both Canned ACLs "
                                      "and Header Grants is not allowed'); s3api applies one"),
    "grant-write header": (200, "", "AWS accepts a WRITE grant alone; s3api wants another header"),
    "unparsable grant header": (400, "InvalidArgument", "AWS names the bad argument; s3api answers "
                                "MissingSecurityHeader"),
    "object bucket-owner-full-control": (200, "", "s3api answers 501 to bucket-owner-* ACLs on objects"),
}

TAGS = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"
NO_TAGS = b"<Tagging><TagSet></TagSet></Tagging>"
DELETE_X = b"<Delete><Object><Key>x</Key></Object></Delete>"


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def bucket_errors(side: Side, b: str) -> None:
    for method in ("GET", "HEAD", "DELETE"):
        side.s3(method, f"/{b}", label=f"{method} a missing bucket")
    side.s3("GET", f"/{b}?location", label="location of a missing bucket")
    side.s3("PUT", f"/{b}")
    side.s3("PUT", f"/{b}?tagging", data=NO_TAGS, headers={"Content-MD5": md5(NO_TAGS)},
            label="bucket tagging")
    side.s3("GET", f"/{b}?lifecycle", label="lifecycle of a bucket without one")
    side.s3("GET", f"/{b}?policy", label="policy of a bucket without one")
    for query in ("max-keys=-1", "max-keys=abc", "encoding-type=foo", "continuation-token=%25"):
        side.s3("GET", f"/{b}?list-type=2&{query}", label=f"list {query}")
    side.s3("GET", f"/{b}?uploads&max-uploads=-1", label="uploads max-uploads=-1")
    side.s3("GET", f"/{b}?versions&max-keys=-1", label="versions max-keys=-1")
    side.s3("PUT", f"/{b}?versioning", data=b"<VersioningConfiguration><Status>Bogus</Status>"
            b"</VersioningConfiguration>", label="bogus versioning status")
    side.s3("PUT", f"/{b}?acl", headers={"x-amz-acl": "bogus"}, label="bogus canned ACL")
    side.s3("POST", f"/{b}?delete", data=DELETE_X, label="DeleteObjects without Content-MD5")
    side.s3("POST", f"/{b}?delete", data=DELETE_X, headers={"Content-MD5": md5(b"other")},
            label="DeleteObjects, wrong Content-MD5")
    side.s3("DELETE", f"/{b}")


def object_errors(side: Side, b: str) -> None:
    side.s3("PUT", f"/{b}")
    side.s3("PUT", f"/{b}/o", data=b"hello", headers={"Content-MD5": md5(b"other")},
            label="wrong Content-MD5")
    side.s3("PUT", f"/{b}/o", data=b"hello", headers={"Content-MD5": "notbase64"}, label="bad Content-MD5")
    side.s3("PUT", f"/{b}/o", data=b"hello")
    side.s3("PUT", f"/{b}/o?tagging", data=TAGS, headers={"Content-MD5": md5(b"zz")},
            label="object tagging, wrong Content-MD5")
    for header, value in (("Range", "bytes=10-20"), ("Range", "bytes=2-1"), ("If-Match", '"nope"'),
                          ("If-None-Match", f'"{hashlib.md5(b"hello").hexdigest()}"'),
                          ("If-Modified-Since", "Wed, 01 Jan 2100 00:00:00 GMT"),
                          ("If-Unmodified-Since", "Wed, 01 Jan 2000 00:00:00 GMT")):
        side.s3("GET", f"/{b}/o", headers={header: value}, label=f"GET {header}: {value}")
    side.s3("HEAD", f"/{b}/o", headers={"If-Match": '"nope"'}, label="HEAD If-Match")
    side.s3("GET", f"/{b}/missing", label="GET a missing key")
    side.s3("HEAD", f"/{b}/missing", label="HEAD a missing key")
    for number in ("2", "0", "x"):
        side.s3("GET", f"/{b}/o?partNumber={number}", label=f"partNumber={number}")
    for headers in ({"x-amz-copy-source": f"/{b}/missing"},
                    {"x-amz-copy-source": f"/{b}/o", "x-amz-copy-source-if-match": '"nope"'},
                    {"x-amz-copy-source": f"/{b}/o", "x-amz-metadata-directive": "BOGUS"},
                    {"x-amz-copy-source": "nobucket"}):
        side.s3("PUT", f"/{b}/c", headers=headers, label=f"copy {sorted(headers.values())[-1]}")
    side.s3("PUT", f"/{b}/o", headers={"x-amz-copy-source": f"/{b}/o"}, label="copy onto itself")
    for storage_class in ("GLACIER", "BOGUS"):
        side.s3("PUT", f"/{b}/o", data=b"x", headers={"x-amz-storage-class": storage_class},
                label=f"storage class {storage_class}")
    side.s3("PUT", f"/{b}/{'k' * 1025}", data=b"x", label="key over 1024 bytes")
    side.s3("PUT", f"/{b}/o", data=b"x", headers={"x-amz-meta-big": "v" * 2100}, label="metadata over 2 KiB")
    side.s3("DELETE", f"/{b}/o")
    side.s3("DELETE", f"/{b}/missing", label="DELETE a missing key")
    side.s3("DELETE", f"/{b}")


def _complete(parts: list[tuple[int, str]]) -> bytes:
    listed = "".join(f"<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
                     for number, etag in parts)
    return f"<CompleteMultipartUpload>{listed}</CompleteMultipartUpload>".encode()


def multipart_errors(side: Side, b: str) -> None:
    side.s3("PUT", f"/{b}")
    created = side.s3("POST", f"/{b}/mp?uploads")
    found = re.search(r"<UploadId>([^<]+)</UploadId>", created.text)
    upload = found.group(1) if found else "none"
    for number in ("0", "10001", "abc"):
        side.s3("PUT", f"/{b}/mp?uploadId={upload}&partNumber={number}", data=b"x", label=f"part {number}")
    first = side.s3("PUT", f"/{b}/mp?uploadId={upload}&partNumber=1", data=b"x" * 10).headers.get("etag", "")
    second = side.s3("PUT", f"/{b}/mp?uploadId={upload}&partNumber=2", data=b"y").headers.get("etag", "")
    side.s3("PUT", f"/{b}/mp?uploadId=bogus&partNumber=1", data=b"x", label="part of a bogus upload")
    side.s3("GET", f"/{b}/mp?uploadId={upload}&max-parts=-1", label="max-parts=-1")
    side.s3("GET", f"/{b}/mp?uploadId={upload}&part-number-marker=x", label="part-number-marker=x")
    completions = [("complete without parts", []), ("out of order", [(2, second), (1, first)]),
                   ("too small", [(1, first), (2, second)]), ("wrong etag", [(1, '"' + "0" * 32 + '"')]),
                   ("complete", [(2, second)])]
    for label, parts in completions:
        side.s3("POST", f"/{b}/mp?uploadId={upload}", data=_complete(parts), label=label)
    side.s3("DELETE", f"/{b}/mp?uploadId={upload}", label="abort a completed upload")
    side.s3("GET", f"/{b}?uploads&max-uploads=abc", label="max-uploads=abc")
    side.s3("DELETE", f"/{b}/mp")
    side.s3("DELETE", f"/{b}")


ALL_USERS = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'


def _acl_document(permission: str) -> bytes:
    grantee = "<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>"
    return ('<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><AccessControlList><Grant>'
            '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">'
            f"{grantee}</Grantee>"
            f"<Permission>{permission}</Permission></Grant></AccessControlList></AccessControlPolicy>").encode()


def acl_answers(side: Side, b: str) -> None:
    """Issue 10: canned ACLs, x-amz-grant-* headers and AccessControlPolicy documents."""
    side.s3("PUT", f"/{b}", headers={"x-amz-grant-read": ALL_USERS}, label="create with a grant header")
    side.s3("GET", f"/{b}?acl", label="bucket ACL with a group grant")
    side.s3("PUT", f"/{b}?acl", headers={"x-amz-acl": "public-read", "x-amz-grant-read": ALL_USERS},
            label="canned ACL and a grant header")
    side.s3("PUT", f"/{b}?acl", headers={"x-amz-grant-write": ALL_USERS}, label="grant-write header")
    side.s3("PUT", f"/{b}?acl", headers={"x-amz-grant-read": "nonsense"}, label="unparsable grant header")
    side.s3("PUT", f"/{b}?acl", data=_acl_document("READ"), label="ACL document without an Owner")
    side.s3("PUT", f"/{b}?acl", data=_acl_document("EVERYTHING"), label="ACL document, bad permission")
    side.s3("PUT", f"/{b}?acl", data=b"<AccessControlPolicy><oops", label="ACL document, not XML")
    side.s3("PUT", f"/{b}?acl", label="PutBucketAcl without an ACL")
    side.s3("PUT", f"/{b}/o", data=b"x", headers={"x-amz-grant-read": ALL_USERS}, label="object with a grant")
    side.s3("GET", f"/{b}/o?acl", label="object ACL")
    side.s3("PUT", f"/{b}/o?acl", headers={"x-amz-acl": "bucket-owner-full-control"},
            label="object bucket-owner-full-control")
    side.s3("GET", f"/{b}/missing?acl", label="ACL of a missing key")
    side.s3("DELETE", f"/{b}/o")
    side.s3("DELETE", f"/{b}")


SCENARIOS = [bucket_errors, object_errors, multipart_errors, acl_answers]


def code_of(exchange: Exchange) -> str:
    body = exchange.body
    if isinstance(body, dict):
        for item in body.get("Error", []):
            if "Code" in item:
                return str(item["Code"])
    return ""


@pytest.fixture
def sides(cloud: RunningCloud, ours_login: tuple[str, str, Credentials],
          reference_login: tuple[str, str, Credentials | None]) -> tuple[Side, Side]:
    token, project_id, credentials = ours_login
    ours = Side("ours", cloud.object_url, f"AUTH_{project_id}", token, credentials)
    token, project_id, reference_credentials = reference_login
    if reference_credentials is None:
        pytest.skip("no EC2 pair for the reference cloud")
    return ours, Side("reference", REFERENCE_URL, f"AUTH_{project_id}", token, reference_credentials)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_s3_answers(sides: tuple[Side, Side], scenario: Scenario) -> None:
    ours, reference = sides
    name = f"cmp-{uuid.uuid4().hex[:10]}"
    for side in (reference, ours):
        scenario(side, name)
    found = []
    for mine, theirs in zip(ours.exchanges, reference.exchanges, strict=True):
        expected = AWS_WINS.get(theirs.label, (theirs.status, code_of(theirs), ""))[:2]
        if (mine.status, code_of(mine)) != expected:
            found.append(f"{theirs.label}: ours {mine.status} {code_of(mine)!r}, expected {expected} "
                         f"(reference {theirs.status} {code_of(theirs)!r})")
    assert not found, "\n" + "\n".join(found)
