"""Write a bucket's configurations through one S3 client and read each back at once through another
(in a cluster: another node): every read of a configuration must show the write just answered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def _policy(bucket: str, number: int) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": f"round{number}", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/secret-{number}"}]})


def _missing(read: Any, code: str) -> None:
    with pytest.raises(ClientError) as raised:
        read()
    assert raised.value.response["Error"]["Code"] == code


def _cors(writer: BaseClient, reader: BaseClient, bucket: str, number: int) -> None:
    rules = [{"AllowedOrigins": [f"https://app{number}.example"], "AllowedMethods": ["GET"],
              "MaxAgeSeconds": number}]
    writer.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert reader.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules, number
    if number % 10 == 9:  # a deletion shows too
        writer.delete_bucket_cors(Bucket=bucket)
        _missing(lambda: reader.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration")


def _bucket_policy(writer: BaseClient, reader: BaseClient, bucket: str, number: int) -> None:
    text = _policy(bucket, number)
    writer.put_bucket_policy(Bucket=bucket, Policy=text)
    assert json.loads(reader.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(text), number
    assert reader.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    if number % 10 == 9:
        writer.delete_bucket_policy(Bucket=bucket)
        _missing(lambda: reader.get_bucket_policy(Bucket=bucket), "NoSuchBucketPolicy")


def _acl(writer: BaseClient, reader: BaseClient, bucket: str, number: int) -> None:
    public = number % 2 == 0
    writer.put_bucket_acl(Bucket=bucket, ACL="public-read" if public else "private")
    grantees = [grant["Grantee"].get("URI") for grant in reader.get_bucket_acl(Bucket=bucket)["Grants"]]
    assert (ALL_USERS in grantees) == public, number


def _tagging(writer: BaseClient, reader: BaseClient, bucket: str, number: int) -> None:
    tags = [{"Key": "round", "Value": str(number)}]
    writer.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert reader.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags, number


def _lifecycle(writer: BaseClient, reader: BaseClient, bucket: str, number: int) -> None:
    rules = [{"ID": f"round{number}", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
              "Expiration": {"Days": number + 1}}]
    writer.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    read = reader.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(rule["ID"], rule["Expiration"]["Days"]) for rule in read] == [(f"round{number}", number + 1)]


def _public_access_block(writer: BaseClient, reader: BaseClient, bucket: str, number: int) -> None:
    block = {"BlockPublicAcls": False, "IgnorePublicAcls": number % 2 == 1, "BlockPublicPolicy": False,
             "RestrictPublicBuckets": False}
    writer.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
    assert reader.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == block, number


CHECKS = (_cors, _bucket_policy, _acl, _tagging, _lifecycle, _public_access_block)


def _object_lock(writer: BaseClient, reader: BaseClient, bucket: str, number: int) -> None:
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": number + 1}}
    writer.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": rule})
    read = reader.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert read.get("Rule") == rule, number


def write_then_read(writer: BaseClient, reader: BaseClient, bucket: str, locked_bucket: str,
                    rounds: int) -> None:
    """`rounds` times, each configuration is written through `writer` and read through `reader`
    (whose node then caches what it read: the next round's read meets that entry, stale unless
    the read queries)."""
    for number in range(rounds):
        for check in CHECKS:
            check(writer, reader, bucket, number)
        _object_lock(writer, reader, locked_bucket, number)
