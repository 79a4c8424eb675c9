"""S3 findings of the second security round (issue 7), sent as an attacker would (raw HTTP)."""

from __future__ import annotations

import re

import pytest
import requests
from botocore.client import BaseClient

from cloud import RunningCloud
from s3.conftest import unique

TAGGING = b"<Tagging><TagSet><Tag><Key>stolen</Key><Value>yes</Value></Tag></TagSet></Tagging>"


def _code(response: requests.Response) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", response.text)
    return found.group(1) if found else ""


@pytest.fixture
def dropbox(s3: BaseClient) -> str:
    """A public-read-write bucket holding one object, with a bucket tag its owner keeps to itself."""
    name = unique("dropbox")
    s3.create_bucket(Bucket=name, ACL="public-read-write")
    s3.put_object(Bucket=name, Key="report.txt", Body=b"quarterly figures")
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "codename", "Value": "nightjar"}]})
    return name


# ---------------------------- anonymous callers get what a canned ACL grants, never the owner's rights

#: (method, path under the bucket, body, headers): the bucket and object ACLs, tags, location and
#: versioning are the owner's (READ_ACP/WRITE_ACP and owner-only operations in S3), whatever the canned ACL.
OWNER_ONLY = [
    ("GET", "?acl", b"", {}),
    ("PUT", "?acl", b"", {"x-amz-acl": "private"}),
    ("GET", "?tagging", b"", {}),
    ("PUT", "?tagging", TAGGING, {}),
    ("DELETE", "?tagging", b"", {}),
    ("GET", "?location", b"", {}),
    ("GET", "?versioning", b"", {}),
    ("GET", "?policy", b"", {}),
    ("PUT", "", b"", {}),
    ("GET", "/report.txt?acl", b"", {}),
    ("PUT", "/report.txt?acl", b"", {"x-amz-acl": "private"}),
    ("GET", "/report.txt?tagging", b"", {}),
    ("PUT", "/report.txt?tagging", TAGGING, {}),
    ("DELETE", "/report.txt?tagging", b"", {}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), OWNER_ONLY,
                         ids=[f"{method} {path or '/'}" for method, path, _, _ in OWNER_ONLY])
def test_anonymous_caller_cannot_use_owner_operations_of_a_public_bucket(
        cloud: RunningCloud, s3: BaseClient, dropbox: str, method: str, path: str, body: bytes,
        headers: dict[str, str]) -> None:
    sent = requests.request(method, f"{cloud.object_url}/{dropbox}{path}", data=body, headers=headers,
                            timeout=10)
    assert sent.status_code == 403, sent.text
    assert _code(sent) == "AccessDenied"
    assert s3.get_bucket_acl(Bucket=dropbox)["Grants"][-1]["Permission"] == "WRITE"
    assert s3.get_bucket_tagging(Bucket=dropbox)["TagSet"] == [{"Key": "codename", "Value": "nightjar"}]
    assert s3.get_object_tagging(Bucket=dropbox, Key="report.txt")["TagSet"] == []


def test_anonymous_caller_cannot_delete_a_public_read_write_bucket(cloud: RunningCloud, s3: BaseClient,
                                                                   dropbox: str) -> None:
    """Once deleted, the name would be free for anyone to take, with the uploads meant for its owner."""
    emptied = requests.delete(f"{cloud.object_url}/{dropbox}/report.txt", timeout=10)
    assert emptied.status_code == 204  # the WRITE grant: objects may be deleted, as in S3
    deleted = requests.delete(f"{cloud.object_url}/{dropbox}", timeout=10)
    assert deleted.status_code == 403, deleted.text
    assert _code(deleted) == "AccessDenied"
    s3.head_bucket(Bucket=dropbox)


def test_anonymous_caller_keeps_what_the_canned_acl_grants(cloud: RunningCloud, dropbox: str) -> None:
    """The ACL's READ and WRITE still work: list, get, put, delete objects."""
    base = f"{cloud.object_url}/{dropbox}"
    assert requests.get(base, timeout=10).status_code == 200
    assert requests.get(f"{base}?uploads", timeout=10).status_code == 200
    assert requests.get(f"{base}/report.txt", timeout=10).content == b"quarterly figures"
    assert requests.put(f"{base}/drop.txt", data=b"for you", timeout=10).status_code == 200
    assert requests.delete(f"{base}/drop.txt", timeout=10).status_code == 204
