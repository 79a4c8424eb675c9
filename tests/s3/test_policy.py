"""Bucket policies, the public access block and ownership controls, driven by boto3 and raw HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import BIN, RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, error_code, refused, unique
from s3.test_clis import run


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def shared(s3: BaseClient) -> str:
    name = unique("pol")
    s3.create_bucket(Bucket=name)
    for key in ("public/a.txt", "secret/b.txt"):
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


@pytest.fixture(scope="module")
def other(make_pair: MakePair) -> Ec2Pair:
    return make_pair("member")


def test_policy_round_trip_and_status(s3: BaseClient, shared: str) -> None:
    refused(lambda: s3.get_bucket_policy(Bucket=shared), "NoSuchBucketPolicy")
    refused(lambda: s3.get_bucket_policy_status(Bucket=shared), "NoSuchBucketPolicy")
    document = _policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{shared}/public/*"})
    s3.put_bucket_policy(Bucket=shared, Policy=document)
    assert json.loads(s3.get_bucket_policy(Bucket=shared)["Policy"]) == json.loads(document)
    assert s3.get_bucket_policy_status(Bucket=shared)["PolicyStatus"]["IsPublic"] is True
    restricted = _policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                          "Resource": f"arn:aws:s3:::{shared}/*",
                          "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}})
    s3.put_bucket_policy(Bucket=shared, Policy=restricted)
    assert s3.get_bucket_policy_status(Bucket=shared)["PolicyStatus"]["IsPublic"] is False
    s3.delete_bucket_policy(Bucket=shared)
    refused(lambda: s3.get_bucket_policy(Bucket=shared), "NoSuchBucketPolicy")


@pytest.mark.parametrize(("document", "message"), [
    ("not json", "Policies must be valid JSON and the first byte must be '{'"),
    ('{"Statement": [', "This policy contains invalid Json"),
    ('{"Version": "2012-10-17"}', "Missing required field Statement"),
    (_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*"}),
     "Missing required field Principal"),
    (_policy({"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::BUCKET/*"}),
     "Invalid effect: Maybe"),
    (_policy({"Effect": "Allow", "Principal": "*", "Action": "ec2:RunInstances",
              "Resource": "arn:aws:s3:::BUCKET/*"}), "Policy has invalid action"),
    (_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::someone-elses-bucket/*"}), "Policy has invalid resource"),
    (_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::BUCKET"}), "Action does not apply to any resource(s) in statement"),
    (_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
              "Resource": "arn:aws:s3:::BUCKET/*"}), "Action does not apply to any resource(s) in statement"),
    (_policy({"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::BUCKET/*"}), "Invalid principal in policy"),
    (_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::BUCKET/*", "Condition": {"StringEqualz": {"s3:prefix": "a"}}}),
     "Invalid Condition type : StringEqualz"),
    (_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
              "Resource": "arn:aws:s3:::BUCKET/*", "Condition": {"StringEquals": {"s3:nonsense": "a"}}}),
     "Policy has an invalid condition key"),
])
def test_malformed_policies_are_refused(s3: BaseClient, shared: str, document: str, message: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_policy(Bucket=shared, Policy=document.replace("BUCKET", shared))
    assert error_code(excinfo) == "MalformedPolicy"
    assert excinfo.value.response["Error"]["Message"] == message
    refused(lambda: s3.get_bucket_policy(Bucket=shared), "NoSuchBucketPolicy")


def test_a_policy_grants_another_project_read(make_client: MakeClient, make_pair: MakePair, s3: BaseClient,
                                              shared: str, other: Ec2Pair, cloud: RunningCloud) -> None:
    reader = make_client(other)
    refused(lambda: reader.get_object(Bucket=shared, Key="public/a.txt"))
    s3.put_bucket_policy(Bucket=shared, Policy=_policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other.project_id}:root"},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{shared}", f"arn:aws:s3:::{shared}/*"]}))
    assert reader.get_object(Bucket=shared, Key="secret/b.txt")["Body"].read() == b"secret/b.txt"
    assert len(reader.list_objects_v2(Bucket=shared)["Contents"]) == 2
    # Only what was granted: no writes, no deletes, no ACLs, no policy; nobody else.
    for attempt in (lambda: reader.put_object(Bucket=shared, Key="x", Body=b"x"),
                    lambda: reader.delete_object(Bucket=shared, Key="public/a.txt"),
                    lambda: reader.get_bucket_acl(Bucket=shared),
                    lambda: reader.get_bucket_policy(Bucket=shared),
                    lambda: reader.delete_bucket_policy(Bucket=shared)):
        refused(attempt)
    stranger = make_client(make_pair("member"))
    refused(lambda: stranger.get_object(Bucket=shared, Key="public/a.txt"))
    assert requests.get(f"{cloud.object_url}/{shared}/public/a.txt", timeout=10).status_code == 403
    # Revoking it takes effect at once (every worker).
    s3.delete_bucket_policy(Bucket=shared)
    for _ in range(4):
        refused(lambda: make_client(other).get_object(Bucket=shared, Key="public/a.txt"))


def test_a_user_principal_names_one_user(make_client: MakeClient, make_pair: MakePair, s3: BaseClient,
                                         shared: str, other: Ec2Pair, admin: Any,
                                         cloud: RunningCloud) -> None:
    user_name = admin.get(f"{cloud.auth_url}/users/{other.user_id}").json()["user"]["name"]
    s3.put_bucket_policy(Bucket=shared, Policy=_policy(
        {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{other.project_id}:user/{user_name}"]},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{shared}/*"}))
    assert make_client(other).get_object(Bucket=shared, Key="public/a.txt")["Body"].read() == b"public/a.txt"
    colleague = make_client(make_pair("member", project_id=other.project_id))
    refused(lambda: colleague.get_object(Bucket=shared, Key="public/a.txt"))


def test_an_explicit_deny_wins_even_for_the_owner(make_client: MakeClient, make_pair: MakePair,
                                                  member: Ec2Pair, s3: BaseClient, shared: str) -> None:
    s3.put_bucket_policy(Bucket=shared, Policy=_policy(
        {"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{shared}/secret/*"}))
    refused(lambda: s3.get_object(Bucket=shared, Key="secret/b.txt"))
    assert s3.get_object(Bucket=shared, Key="public/a.txt")["Body"].read() == b"public/a.txt"
    # DeleteObjects is decided key by key.
    result = s3.delete_objects(Bucket=shared, Delete={"Objects": [{"Key": "secret/b.txt"},
                                                                  {"Key": "public/a.txt"}]})
    assert [error["Code"] for error in result["Errors"]] == ["AccessDenied"]
    assert [deleted["Key"] for deleted in result["Deleted"]] == ["public/a.txt"]
    # A member cannot lift the policy's deny by rewriting the policy... unless it is an admin.
    s3.delete_bucket_policy(Bucket=shared)  # the policy does not deny the policy operations
    s3.put_bucket_policy(Bucket=shared, Policy=_policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{shared}",
                                                                            f"arn:aws:s3:::{shared}/*"]}))
    refused(lambda: s3.delete_bucket_policy(Bucket=shared))
    project_admin = make_client(make_pair("admin", project_id=member.project_id))
    refused(lambda: project_admin.get_object(Bucket=shared, Key="secret/b.txt"))
    project_admin.delete_bucket_policy(Bucket=shared)
    assert s3.get_object(Bucket=shared, Key="secret/b.txt")["Body"].read() == b"secret/b.txt"


def test_conditions_on_prefix_and_source_ip(make_client: MakeClient, s3: BaseClient, shared: str,
                                            other: Ec2Pair, cloud: RunningCloud) -> None:
    s3.put_bucket_policy(Bucket=shared, Policy=_policy(
        {"Effect": "Allow", "Principal": {"AWS": other.project_id}, "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{shared}", "Condition": {"StringLike": {"s3:prefix": "public/*"}}},
        {"Sid": "loopback", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{shared}/public/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{shared}/secret/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}))
    lister = make_client(other)
    assert [item["Key"] for item in lister.list_objects_v2(Bucket=shared, Prefix="public/")["Contents"]] \
        == ["public/a.txt"]
    refused(lambda: lister.list_objects_v2(Bucket=shared))
    refused(lambda: lister.list_objects_v2(Bucket=shared, Prefix="secret/"))
    assert requests.get(f"{cloud.object_url}/{shared}/public/a.txt", timeout=10).content == b"public/a.txt"
    assert requests.get(f"{cloud.object_url}/{shared}/secret/b.txt", timeout=10).status_code == 403


def test_public_access_block_overrides_public_policy_and_acl(s3: BaseClient, shared: str,
                                                             cloud: RunningCloud) -> None:
    url = f"{cloud.object_url}/{shared}/public/a.txt"
    public = _policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                      "Resource": f"arn:aws:s3:::{shared}/*"})
    s3.put_bucket_policy(Bucket=shared, Policy=public)
    assert requests.get(url, timeout=10).status_code == 200
    refused(lambda: s3.get_public_access_block(Bucket=shared), "NoSuchPublicAccessBlockConfiguration")
    s3.put_public_access_block(Bucket=shared, PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
    assert s3.get_public_access_block(Bucket=shared)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True}
    assert requests.get(url, timeout=10).status_code == 403
    assert s3.get_object(Bucket=shared, Key="public/a.txt")["Body"].read() == b"public/a.txt"
    # A public ACL and IgnorePublicAcls.
    s3.delete_bucket_policy(Bucket=shared)
    s3.put_bucket_acl(Bucket=shared, ACL="public-read")
    assert requests.get(url, timeout=10).status_code == 200
    s3.put_public_access_block(Bucket=shared, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    assert requests.get(url, timeout=10).status_code == 403
    # BlockPublicPolicy and BlockPublicAcls refuse new public ones.
    s3.put_public_access_block(Bucket=shared, PublicAccessBlockConfiguration={
        "BlockPublicPolicy": True, "BlockPublicAcls": True})
    refused(lambda: s3.put_bucket_policy(Bucket=shared, Policy=public))
    refused(lambda: s3.put_bucket_acl(Bucket=shared, ACL="public-read-write"))
    refused(lambda: s3.put_object(Bucket=shared, Key="p", Body=b"p", ACL="public-read"))
    s3.put_object(Bucket=shared, Key="p", Body=b"p", ACL="private")
    s3.delete_public_access_block(Bucket=shared)
    refused(lambda: s3.get_public_access_block(Bucket=shared), "NoSuchPublicAccessBlockConfiguration")
    assert requests.get(url, timeout=10).status_code == 200


def test_only_the_owner_manages_policy_and_blocks(make_client: MakeClient, make_pair: MakePair,
                                                  s3: BaseClient, shared: str, other: Ec2Pair,
                                                  cloud: RunningCloud) -> None:
    s3.put_bucket_acl(Bucket=shared, ACL="public-read-write")
    stranger = make_client(other)
    anyone = _policy({"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                      "Resource": f"arn:aws:s3:::{shared}/*"})
    reader = make_client(make_pair("reader", project_id=s3_project(s3)))
    refused(lambda: reader.put_bucket_policy(Bucket=shared, Policy=anyone))
    # Not even a policy that allows everything to everyone hands these over to other projects.
    s3.put_bucket_policy(Bucket=shared, Policy=_policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{shared}", f"arn:aws:s3:::{shared}/*"]}))
    for attempt in (lambda: stranger.put_bucket_policy(Bucket=shared, Policy=anyone),
                    lambda: stranger.get_bucket_policy_status(Bucket=shared),
                    lambda: stranger.delete_public_access_block(Bucket=shared),
                    lambda: stranger.put_bucket_ownership_controls(
                        Bucket=shared, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})):
        refused(attempt)
    for query in ("policy", "publicAccessBlock", "ownershipControls"):
        sent = requests.put(f"{cloud.object_url}/{shared}?{query}", data=anyone, timeout=10)
        assert sent.status_code == 403


def s3_project(client: BaseClient) -> str:
    return str(client.list_buckets()["Owner"]["ID"])


def test_bucket_owner_enforced_turns_acls_off(make_client: MakeClient, s3: BaseClient, shared: str,
                                              cloud: RunningCloud) -> None:
    refused(lambda: s3.get_bucket_ownership_controls(Bucket=shared), "OwnershipControlsNotFoundError")
    s3.put_bucket_acl(Bucket=shared, ACL="public-read")
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    refused(lambda: s3.put_bucket_ownership_controls(Bucket=shared, OwnershipControls=enforced),
             "InvalidBucketAclWithObjectOwnership")
    s3.put_bucket_acl(Bucket=shared, ACL="private")
    s3.put_object_acl(Bucket=shared, Key="public/a.txt", ACL="public-read")
    s3.put_bucket_ownership_controls(Bucket=shared, OwnershipControls=enforced)
    assert s3.get_bucket_ownership_controls(Bucket=shared)["OwnershipControls"] == enforced
    # The object's old public-read grant no longer counts; new ACLs are refused.
    assert requests.get(f"{cloud.object_url}/{shared}/public/a.txt", timeout=10).status_code == 403
    refused(lambda: s3.put_bucket_acl(Bucket=shared, ACL="public-read"), "AccessControlListNotSupported")
    refused(lambda: s3.put_object(Bucket=shared, Key="k", Body=b"k", ACL="public-read"),
             "AccessControlListNotSupported")
    s3.put_object(Bucket=shared, Key="k", Body=b"k", ACL="bucket-owner-full-control")
    s3.delete_bucket_ownership_controls(Bucket=shared)
    assert requests.get(f"{cloud.object_url}/{shared}/public/a.txt", timeout=10).status_code == 200


def test_aws_cli_and_rclone_share_a_bucket_with_a_policy(cloud: RunningCloud, member: Ec2Pair,
                                                         other: Ec2Pair, tmp_path: Path) -> None:
    """The issue's "done when": a user grants another project read with a policy (aws CLI), and the
    other project reads it with rclone; then the owner shares by ACL grant and blocks public access."""
    env = cloud.cli_env(AWS_ACCESS_KEY_ID=member.access, AWS_SECRET_ACCESS_KEY=member.secret,
                        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"))

    def aws(*args: str) -> str:
        return run([str(BIN / "aws"), "--endpoint-url", cloud.object_url, *args], env)

    name = unique("clipol")
    aws("s3", "mb", f"s3://{name}")
    (tmp_path / "report.txt").write_bytes(b"quarterly\n")
    aws("s3", "cp", str(tmp_path / "report.txt"), f"s3://{name}/reports/report.txt")
    document = _policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other.project_id}:root"},
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]})
    aws("s3api", "put-bucket-policy", "--bucket", name, "--policy", document)
    assert json.loads(json.loads(aws("s3api", "get-bucket-policy", "--bucket", name))["Policy"]) \
        == json.loads(document)
    rclone_env = cloud.cli_env(RCLONE_CONFIG_SB_TYPE="s3", RCLONE_CONFIG_SB_PROVIDER="Other",
                               RCLONE_CONFIG_SB_ACCESS_KEY_ID=other.access,
                               RCLONE_CONFIG_SB_SECRET_ACCESS_KEY=other.secret,
                               RCLONE_CONFIG_SB_ENDPOINT=cloud.object_url,
                               RCLONE_CONFIG_SB_REGION="us-east-1",
                               RCLONE_CONFIG=str(tmp_path / "rclone.conf"))
    rclone = shutil.which("rclone")
    if rclone is not None:
        run([rclone, "copy", f"sb:{name}/reports", str(tmp_path / "back")], rclone_env)
        assert (tmp_path / "back" / "report.txt").read_bytes() == b"quarterly\n"
        refused = subprocess.run([rclone, "copy", "--s3-no-check-bucket", str(tmp_path / "report.txt"),
                                  f"sb:{name}/theirs"], env=rclone_env, capture_output=True, text=True,
                                 timeout=120)
        assert refused.returncode != 0
        assert "theirs" not in aws("s3", "ls", "--recursive", f"s3://{name}")
    aws("s3api", "delete-bucket-policy", "--bucket", name)
    aws("s3api", "put-bucket-acl", "--bucket", name, "--grant-read", f"id={other.project_id}")
    assert other.project_id in aws("s3api", "get-bucket-acl", "--bucket", name)
    aws("s3api", "put-bucket-acl", "--bucket", name, "--acl", "public-read")
    assert requests.get(f"{cloud.object_url}/{name}/reports/report.txt", timeout=10).status_code == 200
    aws("s3api", "put-public-access-block", "--bucket", name, "--public-access-block-configuration",
        "IgnorePublicAcls=true,RestrictPublicBuckets=true")
    assert requests.get(f"{cloud.object_url}/{name}/reports/report.txt", timeout=10).status_code == 403
    assert '"IgnorePublicAcls": true' in aws("s3api", "get-public-access-block", "--bucket", name)
