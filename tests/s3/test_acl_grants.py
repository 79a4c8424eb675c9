"""ACLs as AWS applies them: canned ACLs grant anonymous callers and other projects' users alike."""

from __future__ import annotations

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import RunningCloud
from s3.conftest import MakeClient, MakePair, unique


def _code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_public_read_bucket_is_readable_by_another_project(make_client: MakeClient, make_pair: MakePair,
                                                           s3: BaseClient, cloud: RunningCloud) -> None:
    name = unique("pubr")
    s3.create_bucket(Bucket=name, ACL="public-read")
    s3.put_object(Bucket=name, Key="k", Body=b"shared")
    other = make_client(make_pair("member"))
    assert other.get_object(Bucket=name, Key="k")["Body"].read() == b"shared"
    assert [item["Key"] for item in other.list_objects_v2(Bucket=name)["Contents"]] == ["k"]
    assert requests.get(f"{cloud.object_url}/{name}/k", timeout=10).content == b"shared"
    # READ is all public-read grants: no writes, no owner operations.
    for attempt in (lambda: other.put_object(Bucket=name, Key="k", Body=b"vandal"),
                    lambda: other.delete_object(Bucket=name, Key="k"),
                    lambda: other.get_bucket_acl(Bucket=name),
                    lambda: other.put_bucket_acl(Bucket=name, ACL="public-read-write"),
                    lambda: other.get_bucket_tagging(Bucket=name),
                    lambda: other.delete_bucket(Bucket=name)):
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert _code(excinfo) == "AccessDenied"
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"shared"


def test_authenticated_read_excludes_anonymous(make_client: MakeClient, make_pair: MakePair, s3: BaseClient,
                                               cloud: RunningCloud) -> None:
    name = unique("authr")
    s3.create_bucket(Bucket=name, ACL="authenticated-read")
    s3.put_object(Bucket=name, Key="k", Body=b"members only")
    assert make_client(make_pair("member")).get_object(Bucket=name, Key="k")["Body"].read() == b"members only"
    anonymous = requests.get(f"{cloud.object_url}/{name}/k", timeout=10)
    assert anonymous.status_code == 403


def test_another_project_cannot_abort_or_list_the_owners_uploads(
        make_client: MakeClient, make_pair: MakePair, s3: BaseClient) -> None:
    name = unique("pubrw")
    s3.create_bucket(Bucket=name, ACL="public-read-write")
    upload = s3.create_multipart_upload(Bucket=name, Key="big")["UploadId"]
    other = make_client(make_pair("member"))
    for attempt in (lambda: other.abort_multipart_upload(Bucket=name, Key="big", UploadId=upload),
                    lambda: other.list_parts(Bucket=name, Key="big", UploadId=upload)):
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert _code(excinfo) == "AccessDenied"
    # Its own uploads are its own to abort.
    own = other.create_multipart_upload(Bucket=name, Key="mine")["UploadId"]
    other.abort_multipart_upload(Bucket=name, Key="mine", UploadId=own)
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=name)["Uploads"]] == [upload]
