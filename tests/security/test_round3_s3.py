"""S3 findings of the third security round (this session's authorizer, policies, ACL grants, public
access block, POST uploads), each sent as an attacker sends it."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique


def _code(response: requests.Response) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", response.text)
    return found.group(1) if found else ""


def _put_policy(s3: BaseClient, bucket: str, *statements: dict[str, object]) -> None:
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17",
                                                           "Statement": list(statements)}))


# ------------------------------------------------ wildcards match in bounded time, whatever the pattern

def test_pathological_resource_wildcard_answers_quickly(cloud: RunningCloud, s3: BaseClient,
                                                        bucket: str) -> None:
    """Any bucket owner may write `a*a*a*...b`; matched by a backtracking regular expression against a
    1,000-character key it kept a worker busy for hours (4 stars and 300 characters: 4.7 s)."""
    pattern = "a" + "*a" * 12 + "b"
    _put_policy(s3, bucket, {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{bucket}/{pattern}"})
    started = time.monotonic()
    answer = requests.get(f"{cloud.object_url}/{bucket}/{'a' * 1000}", timeout=20)
    assert answer.status_code == 403 and _code(answer) == "AccessDenied"
    assert time.monotonic() - started < 5


def test_pathological_condition_wildcard_answers_quickly(cloud: RunningCloud, s3: BaseClient,
                                                         bucket: str) -> None:
    """StringLike on a header the caller writes (User-Agent, Referer): the same backtracking, with an
    anonymous caller choosing the value."""
    _put_policy(s3, bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{bucket}/*",
                             "Condition": {"StringLike": {"aws:UserAgent": "x" + "*x" * 12 + "y"}}})
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    started = time.monotonic()
    answer = requests.get(f"{cloud.object_url}/{bucket}/k", headers={"User-Agent": "x" * 4000}, timeout=20)
    assert answer.status_code == 403
    assert time.monotonic() - started < 5
    allowed = requests.get(f"{cloud.object_url}/{bucket}/k", headers={"User-Agent": "x" * 40 + "y"},
                           timeout=20)
    assert allowed.content == b"secret"


# ------------------------------------- a caller's own headers do not choose its address or its scheme

def test_forwarded_headers_do_not_spoof_source_ip_or_transport(cloud: RunningCloud, s3: BaseClient,
                                                               bucket: str) -> None:
    """uvicorn trusts X-Forwarded-For/-Proto from 127.0.0.1 unless told otherwise: a local caller (or
    a proxy passing them on) met aws:SourceIp and aws:SecureTransport conditions with its own headers."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    _put_policy(s3, bucket,
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": f"arn:aws:s3:::{bucket}/*",
                 "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
                {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                 "Resource": f"arn:aws:s3:::{bucket}",
                 "Condition": {"Bool": {"aws:SecureTransport": "true"}}})
    spoofed_ip = {"X-Forwarded-For": "10.1.2.3", "Forwarded": "for=10.1.2.3"}
    read = requests.get(f"{cloud.object_url}/{bucket}/k", headers=spoofed_ip, timeout=10)
    assert read.status_code == 403 and _code(read) == "AccessDenied"
    spoofed_tls = {"X-Forwarded-Proto": "https", "Forwarded": "proto=https"}
    listed = requests.get(f"{cloud.object_url}/{bucket}", headers=spoofed_tls, timeout=10)
    assert listed.status_code == 403 and _code(listed) == "AccessDenied"


# ---------------------------------------------- the public access block holds for browser uploads too

def test_post_upload_acl_field_honours_public_access_block(cloud: RunningCloud, s3: BaseClient,
                                                           bucket: str) -> None:
    """The owner's signed form with acl=public-read (a form handed to a browser) made the object public
    in a bucket whose BlockPublicAcls refuses that for every other write."""
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": False})
    post = s3.generate_presigned_post(bucket, "posted", Fields={"acl": "public-read"},
                                      Conditions=[{"acl": "public-read"}])
    answer = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")}, timeout=10)
    assert answer.status_code == 403 and _code(answer) == "AccessDenied"
    assert requests.get(f"{cloud.object_url}/{bucket}/posted", timeout=10).status_code == 403
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_post_upload_acl_field_refused_when_acls_are_off(s3: BaseClient, bucket: str) -> None:
    """BucketOwnerEnforced turns ACLs off: a form's acl field is refused as PutObject's x-amz-acl is."""
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    post = s3.generate_presigned_post(bucket, "posted", Fields={"acl": "public-read"},
                                      Conditions=[{"acl": "public-read"}])
    answer = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")}, timeout=10)
    assert answer.status_code == 400 and _code(answer) == "AccessControlListNotSupported"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


# -------------------------------- whether a key exists is for those who may list the bucket to learn

def test_missing_key_is_access_denied_to_a_caller_who_may_not_list(cloud: RunningCloud, s3: BaseClient,
                                                                   bucket: str) -> None:
    """A policy lets everyone GetObject, not ListBucket: AWS answers a missing key AccessDenied so
    that the keys cannot be probed; stackbox answered 404 NoSuchKey (GET, HEAD, partNumber)."""
    s3.put_object(Bucket=bucket, Key="there", Body=b"public")
    _put_policy(s3, bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{bucket}/*"})
    base = f"{cloud.object_url}/{bucket}"
    assert requests.get(f"{base}/there", timeout=10).content == b"public"
    for path in ("/missing", "/missing?partNumber=1"):
        answer = requests.get(base + path, timeout=10)
        assert answer.status_code == 403 and _code(answer) == "AccessDenied", path
        assert "missing" not in answer.text.replace(f"/{bucket}/missing", "")
    assert requests.head(f"{base}/missing", timeout=10).status_code == 403
    _put_policy(s3, bucket, {"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
                             "Resource": [f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"]})
    listed = requests.get(f"{base}/missing", timeout=10)
    assert listed.status_code == 404 and _code(listed) == "NoSuchKey"


def test_copy_source_does_not_tell_another_project_which_keys_exist(cloud: RunningCloud, make_pair: MakePair,
                                                                    make_client: MakeClient,
                                                                    member: Ec2Pair, s3: BaseClient,
                                                                    bucket: str) -> None:
    """Any project's user could probe a private bucket's keys with CopyObject: a missing source key
    was NoSuchKey (a present one AccessDenied), by plain or tenant-prefixed name."""
    s3.put_object(Bucket=bucket, Key="payroll.csv", Body=b"salaries")
    attacker = make_client(make_pair("member"))
    own = unique("atk")
    attacker.create_bucket(Bucket=own)
    answers = []
    for key in ("payroll.csv", "no-such-file.csv"):
        with pytest.raises(ClientError) as refused:
            attacker.copy_object(Bucket=own, Key="loot", CopySource={"Bucket": bucket, "Key": key})
        answers.append(refused.value.response["Error"]["Code"])
    with pytest.raises(ClientError) as by_version:
        attacker.copy_object(Bucket=own, Key="loot", CopySource={"Bucket": bucket, "Key": "payroll.csv",
                                                                 "VersionId": "null"})
    answers.append(by_version.value.response["Error"]["Code"])
    for key in ("payroll.csv", "no-such-file.csv"):
        with pytest.raises(ClientError) as by_tenant:
            attacker.copy_object(Bucket=own, Key="loot", CopySource=f"{member.project_id}:{bucket}/{key}")
        answers.append(by_tenant.value.response["Error"]["Code"])
    assert answers == ["AccessDenied"] * 5
    tenant_get = requests.get(f"{cloud.object_url}/{member.project_id}:{bucket}/no-such-file.csv", timeout=10)
    assert tenant_get.status_code == 403 and _code(tenant_get) == "AccessDenied"
    # its own project still learns it, as S3 tells those who may list
    with pytest.raises(ClientError) as own_missing:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "no-such-file.csv"})
    assert own_missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_block_public_policy_reads_wildcard_conditions(s3: BaseClient, bucket: str) -> None:
    """StringLike on a restricting key: `*` or `?` in the value keeps the statement public (refused by
    BlockPublicPolicy); a fixed value makes it non-public. It must be decided, never a 500."""
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": False})
    statement: dict[str, object] = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                    "Resource": f"arn:aws:s3:::{bucket}/*"}
    for pattern in ("arn:aws:iam::*:root", "arn:aws:iam::proj?:root"):
        with pytest.raises(ClientError) as refused:
            _put_policy(s3, bucket, {**statement, "Condition": {"StringLike": {"aws:PrincipalArn": pattern}}})
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    _put_policy(s3, bucket, {**statement,
                             "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::proj:root"}}})
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False


def test_conditions_that_hold_for_anonymous_callers_keep_a_policy_public(cloud: RunningCloud, s3: BaseClient,
                                                                         bucket: str) -> None:
    """StringEqualsIfExists / ForAllValues:StringEquals on aws:PrincipalAccount hold when the key is
    absent, i.e. for every anonymous caller: such a policy is public. It passed BlockPublicPolicy (and
    RestrictPublicBuckets let anonymous callers in through it)."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    statement: dict[str, object] = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                    "Resource": f"arn:aws:s3:::{bucket}/*"}
    open_to_anonymous = [{"StringEqualsIfExists": {"aws:PrincipalAccount": "someone"}},
                         {"ForAllValues:StringEquals": {"aws:PrincipalAccount": "someone"}}]
    for condition in open_to_anonymous:
        _put_policy(s3, bucket, {**statement, "Condition": condition})
        assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
        assert requests.get(f"{cloud.object_url}/{bucket}/k", timeout=10).content == b"secret"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True})
    assert requests.get(f"{cloud.object_url}/{bucket}/k", timeout=10).status_code == 403
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": False})
    for condition in open_to_anonymous:
        with pytest.raises(ClientError) as refused:
            _put_policy(s3, bucket, {**statement, "Condition": condition})
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
