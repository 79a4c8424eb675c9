"""S3 findings of the second security round (issue 7), sent as an attacker would (raw HTTP)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
import requests
from botocore.client import BaseClient

from cloud import RunningCloud
from s3.conftest import MakeClient, MakePair, unique
from swift.conftest import MakeUser, User, session

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


# ---------------------------------------------- UploadPartCopy copies bytes: at most S3's 5 GiB per request


@pytest.fixture
def project(make_user: MakeUser, make_pair: MakePair, make_client: MakeClient) -> tuple[User, BaseClient]:
    """A Swift user and an S3 client of one project."""
    user = make_user("member")
    return user, make_client(make_pair("member", project_id=user.project_id))


@pytest.fixture
def huge_slo(cloud: RunningCloud, project: tuple[User, BaseClient]) -> tuple[BaseClient, str]:
    """A bucket with a 6 GiB SLO made through Swift from one 8 MiB segment named 768 times."""
    user, s3 = project
    bucket = unique("big")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="segment", Body=b"x" * (8 << 20))
    token = session(cloud, user.name, user.password, user.project_name).get_token()
    made = requests.put(f"{cloud.object_url}/v1/{user.account}/{bucket}/huge?multipart-manifest=put",
                        json=[{"path": f"/{bucket}/segment"}] * 768, headers={"X-Auth-Token": token},
                        timeout=60)
    assert made.status_code == 201, made.text
    return s3, bucket


@pytest.mark.parametrize("copy_range", [None, "bytes=0-5368709120"])
def test_upload_part_copy_refuses_more_than_5_gib(huge_slo: tuple[BaseClient, str],
                                                  copy_range: str | None) -> None:
    """Each such request would make the server read and write gigabytes for a few bytes sent."""
    s3, bucket = huge_slo
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copy")["UploadId"]
    extra = {"CopySourceRange": copy_range} if copy_range else {}
    with pytest.raises(s3.exceptions.ClientError) as raised:
        s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "huge"}, **extra)
    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidRequest"
    assert error["Message"] == ("The specified copy source is larger than the maximum allowable size for a "
                                "copy source: 5368709120")
    assert s3.list_parts(Bucket=bucket, Key="copy", UploadId=upload_id).get("Parts", []) == []


def test_upload_part_copy_of_a_range_of_a_huge_source_still_works(huge_slo: tuple[BaseClient, str]) -> None:
    s3, bucket = huge_slo
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copy")["UploadId"]
    copied = s3.upload_part_copy(Bucket=bucket, Key="copy", UploadId=upload_id, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "huge"},
                                 CopySourceRange="bytes=0-1048575")
    assert copied["CopyPartResult"]["ETag"]


# --------------------------------------------------- DeleteObjects yields to the loop between its deletes

DELETERS = 2  # one per worker of the test cloud


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    return call(), time.monotonic() - started


def test_healthcheck_answers_while_big_delete_objects_run(cloud: RunningCloud, s3: BaseClient,
                                                          bucket: str) -> None:
    batches = [[f"batch{batch}/key{index}" for index in range(1000)] for batch in range(DELETERS)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b"x"),
                      [key for keys in batches for key in keys]))

    def delete_objects(keys: list[str]) -> dict[str, Any]:
        objects = [{"Key": key} for key in keys]
        return s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})

    with ThreadPoolExecutor(max_workers=DELETERS) as pool:
        deletes = [pool.submit(_timed, partial(delete_objects, keys)) for keys in batches]
        slowest = 0.0
        while not all(delete.done() for delete in deletes):
            answer, took = _timed(lambda: requests.get(f"{cloud.object_url}/healthcheck", timeout=30))
            assert answer.text == "OK"
            slowest = max(slowest, took)
            time.sleep(0.02)
        results = [delete.result() for delete in deletes]
    assert all("Errors" not in answer for answer, _ in results)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # A worker that deletes a thousand keys without yielding answers nothing else until it is done.
    shortest = min(took for _, took in results)
    assert slowest < 0.5 * shortest, (slowest, shortest)


def test_anonymous_callers_abort_and_list_only_uploads_started_anonymously(
        make_client: MakeClient, s3: BaseClient, dropbox: str) -> None:
    """S3: AbortMultipartUpload and ListParts are the bucket owner's and the initiator's; an anonymous
    caller of a public-read-write bucket is the initiator of anonymous uploads only."""
    anonymous = make_client(None)
    owned = s3.create_multipart_upload(Bucket=dropbox, Key="owned")["UploadId"]
    s3.upload_part(Bucket=dropbox, Key="owned", UploadId=owned, PartNumber=1, Body=b"secret part")
    for attempt in (partial(anonymous.list_parts, Bucket=dropbox, Key="owned", UploadId=owned),
                    partial(anonymous.abort_multipart_upload, Bucket=dropbox, Key="owned", UploadId=owned)):
        with pytest.raises(anonymous.exceptions.ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    listed = s3.list_parts(Bucket=dropbox, Key="owned", UploadId=owned)["Parts"]
    assert [part["Size"] for part in listed] == [11]

    dropped = anonymous.create_multipart_upload(Bucket=dropbox, Key="dropped")["UploadId"]
    anonymous.upload_part(Bucket=dropbox, Key="dropped", UploadId=dropped, PartNumber=1, Body=b"anon")
    assert len(anonymous.list_parts(Bucket=dropbox, Key="dropped", UploadId=dropped)["Parts"]) == 1
    assert len(s3.list_parts(Bucket=dropbox, Key="dropped", UploadId=dropped)["Parts"]) == 1
    anonymous.abort_multipart_upload(Bucket=dropbox, Key="dropped", UploadId=dropped)
    other = anonymous.create_multipart_upload(Bucket=dropbox, Key="other")["UploadId"]
    s3.abort_multipart_upload(Bucket=dropbox, Key="other", UploadId=other)
    s3.abort_multipart_upload(Bucket=dropbox, Key="owned", UploadId=owned)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=dropbox)
