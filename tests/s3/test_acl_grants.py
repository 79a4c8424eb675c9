"""ACLs as AWS applies them: canned ACLs grant anonymous callers and other projects' users alike."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, error_code, refused, unique

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


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
        assert error_code(excinfo) == "AccessDenied"
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
        assert error_code(excinfo) == "AccessDenied"
    # Its own uploads are its own to abort.
    own = other.create_multipart_upload(Bucket=name, Key="mine")["UploadId"]
    other.abort_multipart_upload(Bucket=name, Key="mine", UploadId=own)
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=name)["Uploads"]] == [upload]


def _grants(acl: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(grant["Grantee"]["Type"], grant["Grantee"].get("ID") or grant["Grantee"].get("URI", ""),
             grant["Permission"]) for grant in acl["Grants"]]


def test_grant_headers_share_a_bucket_with_one_project(make_client: MakeClient, make_pair: MakePair,
                                                       member: Ec2Pair, s3: BaseClient) -> None:
    name = unique("grant")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"granted")
    friend, stranger = make_pair("member"), make_pair("member")
    s3.put_bucket_acl(Bucket=name, GrantRead=f'id="{friend.project_id}"',
                      GrantReadACP=f"id={friend.project_id}")
    acl = s3.get_bucket_acl(Bucket=name)
    assert _grants(acl) == [("CanonicalUser", member.project_id, "FULL_CONTROL"),
                            ("CanonicalUser", friend.project_id, "READ"),
                            ("CanonicalUser", friend.project_id, "READ_ACP")]
    assert acl["Grants"][1]["Grantee"]["DisplayName"] == friend.project_name
    reader = make_client(friend)
    assert reader.get_object(Bucket=name, Key="k")["Body"].read() == b"granted"
    assert reader.get_bucket_acl(Bucket=name)["Owner"]["ID"] == member.project_id
    refused(lambda: reader.put_object(Bucket=name, Key="k", Body=b"overwrite"))
    refused(lambda: reader.put_bucket_acl(Bucket=name, ACL="public-read"))
    refused(lambda: make_client(stranger).get_object(Bucket=name, Key="k"))


def test_object_acl_document_grants_one_user(make_client: MakeClient, make_pair: MakePair, member: Ec2Pair,
                                             s3: BaseClient, bucket: str, cloud: RunningCloud) -> None:
    s3.put_object(Bucket=bucket, Key="doc", Body=b"for one user")
    friend = make_pair("member")
    owner = s3.get_object_acl(Bucket=bucket, Key="doc")["Owner"]
    s3.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy={
        "Owner": owner,
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "CanonicalUser", "ID": friend.user_id}, "Permission": "READ"}]})
    assert _grants(s3.get_object_acl(Bucket=bucket, Key="doc")) == [
        ("CanonicalUser", member.project_id, "FULL_CONTROL"), ("CanonicalUser", friend.user_id, "READ")]
    assert make_client(friend).get_object(Bucket=bucket, Key="doc")["Body"].read() == b"for one user"
    colleague = make_client(make_pair("member", project_id=friend.project_id))
    refused(lambda: colleague.get_object(Bucket=bucket, Key="doc"))
    refused(lambda: make_client(friend).get_object_acl(Bucket=bucket, Key="doc"))
    assert requests.get(f"{cloud.object_url}/{bucket}/doc", timeout=10).status_code == 403


def test_grants_by_uri_and_email_and_on_put(make_client: MakeClient, make_pair: MakePair, s3: BaseClient,
                                            bucket: str, admin: Any, cloud: RunningCloud) -> None:
    s3.put_object(Bucket=bucket, Key="anyone", Body=b"open", GrantRead=f'uri="{ALL_USERS}"')
    assert requests.get(f"{cloud.object_url}/{bucket}/anyone", timeout=10).content == b"open"
    assert ("Group", ALL_USERS, "READ") in _grants(s3.get_object_acl(Bucket=bucket, Key="anyone"))
    friend = make_pair("member")
    email = f"{unique('mail')}@example.com"
    assert admin.patch(f"{cloud.auth_url}/users/{friend.user_id}",
                       json={"user": {"email": email}}).status_code == 200
    s3.put_object(Bucket=bucket, Key="mailed", Body=b"by mail", GrantRead=f'emailAddress="{email}"')
    mailed = _grants(s3.get_object_acl(Bucket=bucket, Key="mailed"))
    assert ("CanonicalUser", friend.user_id, "READ") in mailed
    assert make_client(friend).get_object(Bucket=bucket, Key="mailed")["Body"].read() == b"by mail"
    refused(lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead='emailAddress="nobody@example.com"'),
             "UnresolvableGrantByEmailAddress")
    refused(lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead='id="no-such-canonical-id"'),
             "InvalidArgument")
    refused(lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead='uri="http://example.com/group"'),
             "InvalidArgument")
    refused(lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead="nonsense"), "InvalidArgument")
    refused(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="private", GrantRead=f'uri="{ALL_USERS}"'),
             "InvalidRequest")
    refused(lambda: s3.put_object(Bucket=bucket, Key="x", Body=b"x", GrantRead='id="no-such-canonical-id"'),
             "InvalidArgument")
    assert _grants(s3.get_bucket_acl(Bucket=bucket))[1:] == []


def test_malformed_acl_documents(s3: BaseClient, bucket: str, cloud: RunningCloud) -> None:
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    for grant in ({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "EVERYTHING"},
                  {"Grantee": {"Type": "CanonicalUser"}, "Permission": "READ"}):
        refused(lambda grant=grant: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={  # type: ignore
            "Owner": owner, "Grants": [grant]}), "MalformedACLError")
    assert _grants(s3.get_bucket_acl(Bucket=bucket))[1:] == []


def test_expected_bucket_owner(s3: BaseClient, member: Ec2Pair, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=member.project_id)
    assert s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=member.project_id)
    for attempt in (lambda: s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner="0" * 32),
                    lambda: s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner="someone-else")):
        refused(attempt)
