"""S3 Object Lock with boto3, the aws CLI and raw requests: bucket configuration, retention, legal
hold, the lock headers of writes and reads, what a lock refuses, and who may touch locks."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import BIN, RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique

GOVERNANCE_DAY = {"ObjectLockEnabled": "Enabled",
                  "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def in_(seconds: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


@pytest.fixture
def locked(s3: BaseClient) -> str:
    name = unique("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def refused(call: object, *args: object, **kwargs: object) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    return error_of(raised)


def test_bucket_created_with_lock(s3: BaseClient, locked: str) -> None:
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=GOVERNANCE_DAY)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == GOVERNANCE_DAY
    years = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}}}
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=years)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"] == years
    assert refused(s3.put_bucket_versioning, Bucket=locked,
                   VersioningConfiguration={"Status": "Suspended"}) == (409, "InvalidBucketState")
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"


@pytest.mark.parametrize("retention", [
    {"Mode": "SOMETIMES", "Days": 1}, {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}, {"Mode": "GOVERNANCE"},
    {"Days": 1}])
def test_malformed_default_retention(s3: BaseClient, locked: str, retention: dict[str, object]) -> None:
    configuration = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": retention}}
    assert refused(s3.put_object_lock_configuration, Bucket=locked,
                   ObjectLockConfiguration=configuration) == (400, "MalformedXML")


@pytest.mark.parametrize("period", [{"Days": 0}, {"Days": -3}, {"Years": 0}, {"Days": 36_501},
                                    {"Years": 101}])
def test_bad_default_retention_period(s3: BaseClient, locked: str, period: dict[str, int]) -> None:
    retention = {"Mode": "GOVERNANCE", **period}
    configuration = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": retention}}
    assert refused(s3.put_object_lock_configuration, Bucket=locked,
                   ObjectLockConfiguration=configuration) == (400, "InvalidArgument")


def test_configuration_of_a_bucket_without_lock(s3: BaseClient, bucket: str) -> None:
    assert refused(s3.get_object_lock_configuration, Bucket=bucket) == (
        404, "ObjectLockConfigurationNotFoundError")
    # AWS today enables Object Lock on an existing bucket, once its versioning is enabled.
    assert refused(s3.put_object_lock_configuration, Bucket=bucket,
                   ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}) == (409, "InvalidBucketState")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=GOVERNANCE_DAY)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == GOVERNANCE_DAY
    assert refused(s3.put_bucket_versioning, Bucket=bucket,
                   VersioningConfiguration={"Status": "Suspended"}) == (409, "InvalidBucketState")


def test_lock_apis_on_a_bucket_without_lock(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert refused(s3.get_object_retention, Bucket=bucket, Key="k") == (400, "InvalidRequest")
    assert refused(s3.get_object_legal_hold, Bucket=bucket, Key="k") == (400, "InvalidRequest")
    assert refused(s3.put_object_retention, Bucket=bucket, Key="k",
                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_(3600)}) == (400, "InvalidRequest")
    assert refused(s3.put_object_legal_hold, Bucket=bucket, Key="k",
                   LegalHold={"Status": "ON"}) == (400, "InvalidRequest")
    assert refused(s3.put_object, Bucket=bucket, Key="k2", Body=b"x", ObjectLockMode="GOVERNANCE",
                   ObjectLockRetainUntilDate=in_(3600)) == (400, "InvalidRequest")
    assert refused(s3.head_object, Bucket=bucket, Key="k2")[0] == 404


def test_governance_retention(s3: BaseClient, locked: str) -> None:
    until = in_(3600).replace(microsecond=0)
    version = s3.put_object(Bucket=locked, Key="k", Body=b"kept", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    head = s3.head_object(Bucket=locked, Key="k")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
    assert s3.get_object_retention(Bucket=locked, Key="k", VersionId=version)["Retention"] == {
        "Mode": "GOVERNANCE", "RetainUntilDate": until}
    assert refused(s3.delete_object, Bucket=locked, Key="k", VersionId=version) == (403, "AccessDenied")
    # A delete without a version id only adds a delete marker.
    marker = s3.delete_object(Bucket=locked, Key="k")
    assert marker["DeleteMarker"] is True
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=version,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_(7200)})
    assert refused(s3.put_object_retention, Bucket=locked, Key="k", VersionId=version,
                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_(60)}) == (403, "AccessDenied")
    assert refused(s3.put_object_retention, Bucket=locked, Key="k", VersionId=version,
                   Retention={}) == (403, "AccessDenied")
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_(60)})
    s3.delete_object(Bucket=locked, Key="k", VersionId=version, BypassGovernanceRetention=True)
    assert refused(s3.head_object, Bucket=locked, Key="k", VersionId=version)[0] == 404


def test_compliance_retention_cannot_be_weakened(s3: BaseClient, locked: str) -> None:
    version = s3.put_object(Bucket=locked, Key="k", Body=b"kept")["VersionId"]
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=version,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_(3600)})
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": in_(60)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": in_(7200)}, {}):
        assert refused(s3.put_object_retention, Bucket=locked, Key="k", VersionId=version,
                       BypassGovernanceRetention=True, Retention=retention) == (403, "AccessDenied")
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=version,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_(7200)})
    assert refused(s3.delete_object, Bucket=locked, Key="k", VersionId=version,
                   BypassGovernanceRetention=True) == (403, "AccessDenied")
    assert s3.get_object(Bucket=locked, Key="k", VersionId=version)["Body"].read() == b"kept"


def test_governance_becomes_compliance_only_with_bypass(s3: BaseClient, locked: str) -> None:
    version = s3.put_object(Bucket=locked, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=in_(3600))["VersionId"]
    compliance = {"Mode": "COMPLIANCE", "RetainUntilDate": in_(7200)}
    assert refused(s3.put_object_retention, Bucket=locked, Key="k", VersionId=version,
                   Retention=compliance) == (403, "AccessDenied")
    s3.put_object_retention(Bucket=locked, Key="k", VersionId=version, Retention=compliance,
                            BypassGovernanceRetention=True)
    assert s3.get_object_retention(Bucket=locked, Key="k")["Retention"]["Mode"] == "COMPLIANCE"


def test_legal_hold(s3: BaseClient, locked: str) -> None:
    version = s3.put_object(Bucket=locked, Key="k", Body=b"x")["VersionId"]
    assert refused(s3.get_object_legal_hold, Bucket=locked, Key="k") == (404, "NoSuchObjectLockConfiguration")
    assert refused(s3.get_object_retention, Bucket=locked, Key="k") == (404, "NoSuchObjectLockConfiguration")
    s3.put_object_legal_hold(Bucket=locked, Key="k", VersionId=version, LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=locked, Key="k")["LegalHold"] == {"Status": "ON"}
    assert s3.head_object(Bucket=locked, Key="k")["ObjectLockLegalHoldStatus"] == "ON"
    assert refused(s3.delete_object, Bucket=locked, Key="k", VersionId=version,
                   BypassGovernanceRetention=True) == (403, "AccessDenied")
    s3.put_object_legal_hold(Bucket=locked, Key="k", VersionId=version, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=locked, Key="k", VersionId=version)
    assert "Versions" not in s3.list_object_versions(Bucket=locked)


def test_lock_apis_on_missing_versions(s3: BaseClient, locked: str) -> None:
    assert refused(s3.get_object_retention, Bucket=locked, Key="nothing")[0] == 404
    assert refused(s3.put_object_legal_hold, Bucket=locked, Key="nothing",
                   LegalHold={"Status": "ON"})[0] == 404
    s3.put_object(Bucket=locked, Key="k", Body=b"x")
    assert refused(s3.get_object_retention, Bucket=locked, Key="k",
                   VersionId="0" * 32) == (404, "NoSuchVersion")
    assert refused(s3.put_object_retention, Bucket=locked, Key="k",
                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_(-60)}) == (400, "InvalidArgument")


def test_default_retention_applies_to_new_versions(s3: BaseClient, locked: str) -> None:
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=GOVERNANCE_DAY)
    version = s3.put_object(Bucket=locked, Key="k", Body=b"x")["VersionId"]
    head = s3.head_object(Bucket=locked, Key="k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    remaining = (head["ObjectLockRetainUntilDate"] - in_(0)).total_seconds()
    assert 86_300 < remaining <= 86_400
    assert refused(s3.delete_object, Bucket=locked, Key="k", VersionId=version) == (403, "AccessDenied")
    copied = s3.copy_object(Bucket=locked, Key="copy", CopySource={"Bucket": locked, "Key": "k"})
    assert s3.head_object(Bucket=locked, Key="copy")["ObjectLockMode"] == "GOVERNANCE"
    assert refused(s3.delete_object, Bucket=locked, Key="copy",
                   VersionId=copied["VersionId"]) == (403, "AccessDenied")
    # Headers win over the default.
    s3.put_object(Bucket=locked, Key="k", Body=b"y", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=in_(600))
    assert s3.head_object(Bucket=locked, Key="k")["ObjectLockMode"] == "COMPLIANCE"


def test_lock_headers_on_copy_and_multipart(s3: BaseClient, locked: str) -> None:
    until = in_(3600).replace(microsecond=0)
    s3.put_object(Bucket=locked, Key="src", Body=b"data")
    s3.copy_object(Bucket=locked, Key="dst", CopySource={"Bucket": locked, "Key": "src"},
                   ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                   ObjectLockLegalHoldStatus="ON")
    head = s3.head_object(Bucket=locked, Key="dst")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]) == (
        "COMPLIANCE", until, "ON")
    assert "ObjectLockMode" not in s3.head_object(Bucket=locked, Key="src")
    upload = s3.create_multipart_upload(Bucket=locked, Key="mp", ObjectLockMode="GOVERNANCE",
                                        ObjectLockRetainUntilDate=until)["UploadId"]
    part = s3.upload_part(Bucket=locked, Key="mp", UploadId=upload, PartNumber=1, Body=b"p" * 100)
    done = s3.complete_multipart_upload(Bucket=locked, Key="mp", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    got = s3.get_object(Bucket=locked, Key="mp")
    assert (got["ObjectLockMode"], got["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", until)
    assert refused(s3.delete_object, Bucket=locked, Key="mp",
                   VersionId=done["VersionId"]) == (403, "AccessDenied")


@pytest.mark.parametrize("headers", [
    {"ObjectLockMode": "GOVERNANCE"},
    {"ObjectLockRetainUntilDate": "2099-01-01T00:00:00Z"},
    {"ObjectLockMode": "FOREVER", "ObjectLockRetainUntilDate": "2099-01-01T00:00:00Z"},
    {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": "2001-01-01T00:00:00Z"},
    {"ObjectLockLegalHoldStatus": "MAYBE"}])
def test_bad_lock_headers(s3: BaseClient, locked: str, headers: dict[str, str]) -> None:
    assert refused(s3.put_object, Bucket=locked, Key="k", Body=b"x", **headers) == (400, "InvalidArgument")
    assert "Versions" not in s3.list_object_versions(Bucket=locked)


def test_locked_put_needs_an_integrity_header(make_client: MakeClient, member: Ec2Pair, s3: BaseClient,
                                              locked: str) -> None:
    bare = make_client(member, request_checksum_calculation="when_required")
    assert refused(bare.put_object, Bucket=locked, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                   ObjectLockRetainUntilDate=in_(600)) == (400, "InvalidRequest")
    assert refused(bare.put_object, Bucket=locked, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON") == (
        400, "InvalidRequest")
    bare.put_object(Bucket=locked, Key="k", Body=b"x")  # no lock asked, no default retention
    bare.put_object(Bucket=locked, Key="k", Body=b"x", ContentMD5="ndTkYSaMgDT1yFZOFVxnpg==",
                    ObjectLockLegalHoldStatus="ON")
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration=GOVERNANCE_DAY)
    assert refused(bare.put_object, Bucket=locked, Key="d", Body=b"x") == (400, "InvalidRequest")
    s3.put_object(Bucket=locked, Key="d", Body=b"x")  # boto3's default checksum suffices


def test_delete_objects_respects_locks(s3: BaseClient, locked: str) -> None:
    governed = s3.put_object(Bucket=locked, Key="g", Body=b"x", ObjectLockMode="GOVERNANCE",
                             ObjectLockRetainUntilDate=in_(3600))["VersionId"]
    held = s3.put_object(Bucket=locked, Key="h", Body=b"x", ObjectLockLegalHoldStatus="ON")["VersionId"]
    free = s3.put_object(Bucket=locked, Key="f", Body=b"x")["VersionId"]
    objects = [{"Key": "g", "VersionId": governed}, {"Key": "h", "VersionId": held},
               {"Key": "f", "VersionId": free}]
    result = s3.delete_objects(Bucket=locked, Delete={"Objects": objects})
    assert [d["Key"] for d in result["Deleted"]] == ["f"]
    assert sorted((e["Key"], e["Code"]) for e in result["Errors"]) == [
        ("g", "AccessDenied"), ("h", "AccessDenied")]
    result = s3.delete_objects(Bucket=locked, Delete={"Objects": objects[:2]}, BypassGovernanceRetention=True)
    assert [d["Key"] for d in result["Deleted"]] == ["g"]
    assert [e["Key"] for e in result["Errors"]] == ["h"]
    # Versions still held keep the bucket from being deleted.
    assert refused(s3.delete_bucket, Bucket=locked) == (409, "BucketNotEmpty")


def test_another_project_and_anonymous_are_refused(make_pair: MakePair, make_client: MakeClient,
                                                   s3: BaseClient, cloud: RunningCloud) -> None:
    name = unique("lockpub")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True, ACL="public-read-write")
    version = s3.put_object(Bucket=name, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=in_(3600))["VersionId"]
    retention = {"Mode": "GOVERNANCE", "RetainUntilDate": in_(60)}
    for client in (make_client(make_pair("member")), make_client(None)):
        calls: list[tuple[object, dict[str, object]]] = [
            (client.get_object_lock_configuration, {}),
            (client.put_object_lock_configuration, {"ObjectLockConfiguration": GOVERNANCE_DAY}),
            (client.get_object_retention, {"Key": "k"}),
            (client.put_object_retention, {"Key": "k", "VersionId": version, "Retention": retention,
                                           "BypassGovernanceRetention": True}),
            (client.get_object_legal_hold, {"Key": "k"}),
            (client.put_object_legal_hold, {"Key": "k", "LegalHold": {"Status": "ON"}}),
            (client.delete_object, {"Key": "k", "VersionId": version, "BypassGovernanceRetention": True}),
        ]
        for call, kwargs in calls:
            assert refused(call, Bucket=name, **kwargs) == (403, "AccessDenied"), call
    # Raw anonymous requests too (no SDK in the way).
    for method, query in (("GET", "object-lock"), ("PUT", "object-lock")):
        assert requests.request(method, f"{cloud.object_url}/{name}?{query}", timeout=10).status_code == 403
    assert s3.get_object_retention(Bucket=name, Key="k")["Retention"]["Mode"] == "GOVERNANCE"
    assert s3.get_object(Bucket=name, Key="k", VersionId=version)["Body"].read() == b"x"


def test_aws_cli(cloud: RunningCloud, member: Ec2Pair, tmp_path: Path) -> None:
    env = cloud.cli_env(AWS_ACCESS_KEY_ID=member.access, AWS_SECRET_ACCESS_KEY=member.secret,
                        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"))

    def aws(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(BIN / "aws"), "--endpoint-url", cloud.object_url, "s3api", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert not check or done.returncode == 0, done.stderr
        return done

    name = unique("lockcli")
    aws("create-bucket", "--bucket", name, "--object-lock-enabled-for-bucket")
    aws("put-object-lock-configuration", "--bucket", name, "--object-lock-configuration",
        json.dumps(GOVERNANCE_DAY))
    shown = json.loads(aws("get-object-lock-configuration", "--bucket", name).stdout)
    assert shown["ObjectLockConfiguration"] == GOVERNANCE_DAY
    body = tmp_path / "body"
    body.write_bytes(b"locked")
    until = in_(3600).strftime("%Y-%m-%dT%H:%M:%SZ")
    put = json.loads(aws("put-object", "--bucket", name, "--key", "k", "--body", str(body),
                         "--object-lock-mode", "COMPLIANCE", "--object-lock-retain-until-date", until).stdout)
    version = put["VersionId"]
    retention = json.loads(aws("get-object-retention", "--bucket", name, "--key", "k").stdout)["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    denied = aws("delete-object", "--bucket", name, "--key", "k", "--version-id", version,
                 "--bypass-governance-retention", check=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    governed = json.loads(aws("put-object", "--bucket", name, "--key", "g", "--body", str(body)).stdout)
    aws("put-object-legal-hold", "--bucket", name, "--key", "g", "--legal-hold", "Status=ON")
    hold = json.loads(aws("get-object-legal-hold", "--bucket", name, "--key", "g").stdout)
    assert hold["LegalHold"]["Status"] == "ON"
    aws("put-object-legal-hold", "--bucket", name, "--key", "g", "--legal-hold", "Status=OFF")
    denied = aws("delete-object", "--bucket", name, "--key", "g", "--version-id", governed["VersionId"],
                 check=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    aws("put-object-retention", "--bucket", name, "--key", "g", "--bypass-governance-retention",
        "--retention", json.dumps({"Mode": "GOVERNANCE", "RetainUntilDate": in_(30).isoformat()}))
    aws("delete-object", "--bucket", name, "--key", "g", "--version-id", governed["VersionId"],
        "--bypass-governance-retention")
    listed = json.loads(aws("list-object-versions", "--bucket", name).stdout)
    assert [v["Key"] for v in listed["Versions"]] == ["k"]
