"""Who may do what: roles, projects, deleted and unknown credentials, bad signatures, clock skew."""

from __future__ import annotations

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_reader_reads_but_cannot_write(make_pair: MakePair, make_client: MakeClient, member: Ec2Pair,
                                       s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared", Body=b"data")
    reader = make_client(make_pair("reader", project_id=member.project_id))
    assert reader.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"data"
    assert [item["Key"] for item in reader.list_objects_v2(Bucket=bucket)["Contents"]] == ["shared"]
    for attempt in (lambda: reader.put_object(Bucket=bucket, Key="x", Body=b"x"),
                    lambda: reader.delete_object(Bucket=bucket, Key="shared"),
                    lambda: reader.create_bucket(Bucket=unique("rdr")),
                    lambda: reader.create_multipart_upload(Bucket=bucket, Key="x")):
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert error_code(excinfo) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"data"


def test_same_project_members_share_buckets(make_pair: MakePair, make_client: MakeClient, member: Ec2Pair,
                                            bucket: str) -> None:
    colleague = make_client(make_pair("member", project_id=member.project_id))
    colleague.put_object(Bucket=bucket, Key="from-colleague", Body=b"1")
    assert bucket in [b["Name"] for b in colleague.list_buckets()["Buckets"]]


def test_other_projects_are_refused(make_pair: MakePair, make_client: MakeClient, s3: BaseClient,
                                    bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="private", Body=b"mine")
    stranger = make_client(make_pair("member"))
    own = unique("own")
    stranger.create_bucket(Bucket=own)
    assert bucket not in [b["Name"] for b in stranger.list_buckets().get("Buckets", [])]
    for attempt in (lambda: stranger.get_object(Bucket=bucket, Key="private"),
                    lambda: stranger.list_objects_v2(Bucket=bucket),
                    lambda: stranger.put_object(Bucket=bucket, Key="private", Body=b"theirs"),
                    lambda: stranger.delete_object(Bucket=bucket, Key="private"),
                    lambda: stranger.copy_object(Bucket=own, Key="k", CopySource=f"{bucket}/private")):
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert error_code(excinfo) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="private")["Body"].read() == b"mine"


def test_deleted_credential_is_refused_at_once(cloud: RunningCloud, admin: ks_session.Session,
                                                make_pair: MakePair, make_client: MakeClient) -> None:
    pair = make_pair("member")
    client = make_client(pair)
    name = unique("del")
    client.create_bucket(Bucket=name)
    for _ in range(6):  # warm the credential cache of both workers
        client.head_bucket(Bucket=name)
    response = admin.delete(f"{cloud.auth_url}/users/{pair.user_id}/credentials/OS-EC2/{pair.access}")
    assert response.status_code == 204
    for _ in range(10):  # new connections: requests spread over both workers
        with pytest.raises(ClientError) as excinfo:
            make_client(pair).list_objects_v2(Bucket=name)
        assert error_code(excinfo) == "InvalidAccessKeyId"


def test_unknown_key_and_wrong_secret(make_client: MakeClient, member: Ec2Pair) -> None:
    unknown = Ec2Pair("0123456789abcdef0123456789abcdef", "secret", "", "", "")
    with pytest.raises(ClientError) as excinfo:
        make_client(unknown).list_buckets()
    assert error_code(excinfo) == "InvalidAccessKeyId"
    wrong = Ec2Pair(member.access, "not-the-secret", "", "", "")
    with pytest.raises(ClientError) as excinfo:
        make_client(wrong).list_buckets()
    assert error_code(excinfo) == "SignatureDoesNotMatch"


def test_anonymous_list_buckets_is_refused(cloud: RunningCloud) -> None:
    response = requests.get(f"{cloud.object_url}/", timeout=10)
    assert response.status_code == 403 and b"<Code>AccessDenied</Code>" in response.content


def test_sigv2_header_authentication(make_client: MakeClient, member: Ec2Pair, bucket: str) -> None:
    legacy = make_client(member, signature_version="s3")
    legacy.put_object(Bucket=bucket, Key="v2", Body=b"sigv2")
    assert legacy.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"sigv2"
