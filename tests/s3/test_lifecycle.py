"""S3 bucket lifecycle with boto3, the aws CLI and raw requests: the configuration API and its
validation, who may use it, `x-amz-expiration`, and rules applied by the housekeeping loop on a
cloud whose lifecycle "day" lasts one second."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloud import BIN, RunningCloud, start_cloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique
from s3.test_bad_input import send, sign
from s3.test_clis import run

Rules = list[dict[str, Any]]


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def put_rules(s3: BaseClient, bucket: str, rules: Rules) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def refused(s3: BaseClient, bucket: str, rules: Rules) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        put_rules(s3, bucket, rules)
    return error_of(raised)


def expire(rule_id: str = "r", days: int = 1, **fields: Any) -> dict[str, Any]:
    return {"ID": rule_id, "Status": "Enabled", "Filter": {}, "Expiration": {"Days": days}, **fields}


# ---------------------------------------------------------------------------------------------- the API


def test_configuration_round_trip(s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_of(missing) == (404, "NoSuchLifecycleConfiguration")
    midnight = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    rules: Rules = [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
        {"ID": "tagged", "Status": "Disabled", "Filter": {"Tag": {"Key": "tmp", "Value": "yes"}},
         "Expiration": {"Date": midnight}},
        {"ID": "and", "Status": "Enabled",
         "Filter": {"And": {"Prefix": "a/", "Tags": [{"Key": "k", "Value": "v"}], "ObjectSizeGreaterThan": 10,
                            "ObjectSizeLessThan": 1000}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 3}},
        {"ID": "big", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 5000},
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
        {"ID": "uploads", "Status": "Enabled", "Prefix": "up/",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
    ]
    put_rules(s3, bucket, rules)
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert got == rules
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as deleted:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_of(deleted) == (404, "NoSuchLifecycleConfiguration")


def test_rule_without_id_gets_one(s3: BaseClient, bucket: str) -> None:
    put_rules(s3, bucket, [{"Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}])
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert 0 < len(rule["ID"]) <= 255


@pytest.mark.parametrize(("rules", "expected"), [
    ([expire(Status="enabled")], (400, "MalformedXML")),
    ([expire(days=0)], (400, "InvalidArgument")),
    ([expire(rule_id="x" * 256)], (400, "InvalidArgument")),
    ([expire(), expire()], (400, "InvalidArgument")),
    ([{"ID": "d", "Status": "Enabled", "Filter": {},
       "Expiration": {"Date": dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)}}], (400, "InvalidArgument")),
    ([{"ID": "n", "Status": "Enabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 0}}],
     (400, "InvalidArgument")),
    ([{"ID": "n", "Status": "Enabled", "Filter": {},
       "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 101}}],
     (400, "InvalidArgument")),
    ([{"ID": "a", "Status": "Enabled", "Filter": {},
       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 0}}],
     (400, "InvalidArgument")),
    ([{"ID": "t", "Status": "Enabled", "Filter": {},
       "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}],
     (400, "InvalidStorageClass")),
    ([{"ID": "t", "Status": "Enabled", "Filter": {},
       "NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "STANDARD_IA"}]}],
     (400, "InvalidStorageClass")),
    ([{"ID": "none", "Status": "Enabled", "Filter": {}}], (400, "InvalidRequest")),
    ([expire(Prefix="both/")], (400, "MalformedXML")),
    ([{"ID": "nofilter", "Status": "Enabled", "Expiration": {"Days": 1}}], (400, "MalformedXML")),
    ([expire(Filter={"Prefix": "a", "Tag": {"Key": "k", "Value": "v"}})], (400, "MalformedXML")),
    ([expire(Filter={"And": {"Prefix": "a"}})], (400, "MalformedXML")),
    ([expire(Filter={"And": {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}})],
     (400, "InvalidRequest")),
    ([expire(Filter={"And": {"ObjectSizeGreaterThan": 100, "ObjectSizeLessThan": 100}})],
     (400, "InvalidRequest")),
    ([{"ID": "a", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}], (400, "InvalidRequest")),
    ([{"ID": "m", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
       "Expiration": {"ExpiredObjectDeleteMarker": True}}], (400, "InvalidRequest")),
    ([expire(rule_id=f"r{n}") for n in range(1001)], (400, "MalformedXML")),
])
def test_invalid_configurations(s3: BaseClient, bucket: str, rules: Rules, expected: tuple[int, str]) -> None:
    assert refused(s3, bucket, rules) == expected
    with pytest.raises(ClientError) as nothing_stored:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_of(nothing_stored) == (404, "NoSuchLifecycleConfiguration")


def test_a_thousand_rules_are_accepted(s3: BaseClient, bucket: str) -> None:
    put_rules(s3, bucket, [expire(rule_id=f"r{n}", Filter={"Prefix": f"p{n}/"}) for n in range(1000)])
    assert len(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]) == 1000


@pytest.mark.parametrize("body", [
    b"<LifecycleConfiguration/>",
    b"<LifecycleConfiguration><Rule><ID>x</ID>",
    b"<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Filter/>"
    b"<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>",
    b"<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Filter/>"
    b"<Expiration><Days>soon</Days></Expiration></Rule></LifecycleConfiguration>",
    b"<Lifecycle><Rule/></Lifecycle>",
])
def test_malformed_documents(cloud: RunningCloud, member: Ec2Pair, bucket: str, body: bytes) -> None:
    response = send(sign(member, "PUT", f"{cloud.object_url}/{bucket}?lifecycle", body))
    assert response.status_code == 400 and "<Code>MalformedXML</Code>" in response.text


def test_date_must_be_iso_8601(cloud: RunningCloud, member: Ec2Pair, bucket: str) -> None:
    body = (b"<LifecycleConfiguration><Rule><ID>x</ID><Status>Enabled</Status><Filter/>"
            b"<Expiration><Date>2030-02-30T00:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>")
    response = send(sign(member, "PUT", f"{cloud.object_url}/{bucket}?lifecycle", body))
    assert response.status_code == 400 and "<Code>InvalidArgument</Code>" in response.text


def test_other_projects_and_anonymous_are_refused(s3: BaseClient, bucket: str, make_pair: MakePair,
                                                   make_client: MakeClient, member: Ec2Pair) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    put_rules(s3, bucket, [expire()])
    reader = make_client(make_pair("reader", project_id=member.project_id))
    for caller in (make_client(make_pair("member")), make_client(None)):
        for call in (lambda c: c.get_bucket_lifecycle_configuration(Bucket=bucket),
                     lambda c: c.delete_bucket_lifecycle(Bucket=bucket),
                     lambda c: put_rules(c, bucket, [expire(days=9999)])):
            with pytest.raises(ClientError) as denied:
                call(caller)
            assert error_of(denied) == (403, "AccessDenied")
    assert reader.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["ID"] == "r"
    with pytest.raises(ClientError) as read_only:
        reader.delete_bucket_lifecycle(Bucket=bucket)
    assert error_of(read_only) == (403, "AccessDenied")
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Expiration"] == {"Days": 1}


def test_no_such_bucket(s3: BaseClient) -> None:
    with pytest.raises(ClientError) as missing:
        put_rules(s3, unique("nobkt"), [expire()])
    assert error_of(missing) == (404, "NoSuchBucket")


def test_expiration_header(s3: BaseClient, bucket: str) -> None:
    put_rules(s3, bucket, [expire("month", 30, Filter={"Prefix": "logs/"}),
                           expire("week", 7, Filter={"Tag": {"Key": "short", "Value": "yes"}})])
    written = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    expiration = written["Expiration"]
    assert expiration.endswith('rule-id="month"') and "GMT" in expiration
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    modified = head["LastModified"].timestamp()
    expected = dt.datetime.fromtimestamp((int(modified // 86400) + 31) * 86400, dt.UTC)
    assert head["Expiration"] == f'expiry-date="{expected:%a, %d %b %Y %H:%M:%S} GMT", rule-id="month"'
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == head["Expiration"]
    s3.put_object(Bucket=bucket, Key="logs/b", Body=b"x", Tagging="short=yes")
    assert s3.head_object(Bucket=bucket, Key="logs/b")["Expiration"].endswith('rule-id="week"')
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="other")


def test_aws_cli(cloud: RunningCloud, member: Ec2Pair, bucket: str, tmp_path: Path) -> None:
    env = cloud.cli_env(AWS_ACCESS_KEY_ID=member.access, AWS_SECRET_ACCESS_KEY=member.secret,
                        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"))

    def aws(*args: str) -> str:
        return run([str(BIN / "aws"), "--endpoint-url", cloud.object_url, "s3api", *args], env)

    configuration = {"Rules": [{"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
                                "Expiration": {"Days": 3},
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]}
    (tmp_path / "rules.json").write_text(json.dumps(configuration))
    aws("put-bucket-lifecycle-configuration", "--bucket", bucket,
        "--lifecycle-configuration", f"file://{tmp_path / 'rules.json'}")
    assert json.loads(aws("get-bucket-lifecycle-configuration", "--bucket", bucket)) == configuration
    aws("delete-bucket-lifecycle", "--bucket", bucket)
    done = _aws_result([str(BIN / "aws"), "--endpoint-url", cloud.object_url, "s3api",
                        "get-bucket-lifecycle-configuration", "--bucket", bucket], env)
    assert done.returncode != 0 and "NoSuchLifecycleConfiguration" in done.stderr


def _aws_result(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------------------------------------- expiry


@pytest.fixture(scope="module")
def fast_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """A cloud whose lifecycle day lasts a second and whose housekeeping runs every second."""
    running = start_cloud(tmp_path_factory.mktemp("lifecycle") / "data", workers=1,
                          extra_env={"STACKBOX_LIFECYCLE_DAY_SECONDS": "1",
                                     "STACKBOX_MAINTENANCE_INTERVAL": "1"})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fast(fast_cloud: RunningCloud) -> BaseClient:
    """A boto3 client with the admin's EC2 pair on that cloud."""
    auth = v3.Password(auth_url=fast_cloud.auth_url, username="admin", password=fast_cloud.admin_password,
                       project_name="admin", user_domain_id="default", project_domain_id="default")
    admin = ks_session.Session(auth=auth)
    user_id, project_id = admin.get_user_id(), admin.get_project_id()
    credential = admin.post(f"{fast_cloud.auth_url}/users/{user_id}/credentials/OS-EC2",
                            json={"tenant_id": project_id}).json()["credential"]
    return boto3.client("s3", endpoint_url=fast_cloud.object_url, region_name="us-east-1",
                        aws_access_key_id=credential["access"], aws_secret_access_key=credential["secret"])


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the lifecycle rule did not act in time"
        time.sleep(0.25)


def versions_of(s3: BaseClient, bucket: str) -> list[tuple[str, bool, bool]]:
    """(key, is latest, is delete marker) of every version, in listing order."""
    listing = s3.list_object_versions(Bucket=bucket)
    entries = [(v["Key"], v["VersionId"], v["IsLatest"], False) for v in listing.get("Versions", [])]
    entries += [(m["Key"], m["VersionId"], m["IsLatest"], True) for m in listing.get("DeleteMarkers", [])]
    return sorted((key, latest, marker) for key, _, latest, marker in entries)


def new_bucket(s3: BaseClient, versioned: bool = False) -> str:
    name = unique("life")
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def keys_of(s3: BaseClient, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_current_versions_expire(fast: BaseClient) -> None:
    plain, versioned, disabled = new_bucket(fast), new_bucket(fast, versioned=True), new_bucket(fast)
    rules = [expire("tmp", Filter={"Prefix": "tmp/"}),
             expire("tagged", Filter={"And": {"Prefix": "t/", "Tags": [{"Key": "gone", "Value": "yes"}]}}),
             expire("big", Filter={"ObjectSizeGreaterThan": 3})]
    for name in (plain, versioned):
        put_rules(fast, name, rules)
    put_rules(fast, disabled, [{**expire(), "Status": "Disabled"}])
    for name in (plain, versioned, disabled):
        fast.put_object(Bucket=name, Key="tmp/a", Body=b"x")
        fast.put_object(Bucket=name, Key="t/tagged", Body=b"x", Tagging="gone=yes")
        fast.put_object(Bucket=name, Key="t/untagged", Body=b"x")
        fast.put_object(Bucket=name, Key="keep/big", Body=b"larger")
        fast.put_object(Bucket=name, Key="keep/small", Body=b"x")
    eventually(lambda: keys_of(fast, plain) == ["keep/small", "t/untagged"])
    eventually(lambda: keys_of(fast, versioned) == ["keep/small", "t/untagged"])
    # In a versioned bucket expiry is a delete marker over the version, which stays.
    assert versions_of(fast, versioned) == [
        ("keep/big", False, False), ("keep/big", True, True), ("keep/small", True, False),
        ("t/tagged", False, False), ("t/tagged", True, True), ("t/untagged", True, False),
        ("tmp/a", False, False), ("tmp/a", True, True)]
    assert versions_of(fast, plain) == [("keep/small", True, False), ("t/untagged", True, False)]
    assert len(keys_of(fast, disabled)) == 5


def test_noncurrent_versions_expire_keeping_the_newest(fast: BaseClient) -> None:
    bucket = new_bucket(fast, versioned=True)
    keep_one = {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}
    put_rules(fast, bucket, [{"ID": "old", "Status": "Enabled", "Filter": {"Prefix": "k"},
                              "NoncurrentVersionExpiration": keep_one}])
    ids = [fast.put_object(Bucket=bucket, Key="k", Body=str(n).encode())["VersionId"] for n in range(4)]
    other = [fast.put_object(Bucket=bucket, Key="other", Body=b"x")["VersionId"] for _ in range(2)]

    def remaining(key: str) -> list[str]:
        listing = fast.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
        return [v["VersionId"] for v in listing if v["Key"] == key]

    eventually(lambda: remaining("k") == [ids[3], ids[2]])
    assert fast.get_object(Bucket=bucket, Key="k")["Body"].read() == b"3"
    assert remaining("other") == other[::-1]


def test_expired_object_delete_markers_go(fast: BaseClient) -> None:
    bucket = new_bucket(fast, versioned=True)
    put_rules(fast, bucket, [{"ID": "markers", "Status": "Enabled", "Filter": {},
                              "Expiration": {"ExpiredObjectDeleteMarker": True}}])
    alone = fast.put_object(Bucket=bucket, Key="alone", Body=b"x")["VersionId"]
    fast.delete_object(Bucket=bucket, Key="alone")
    fast.delete_object(Bucket=bucket, Key="alone", VersionId=alone)
    fast.put_object(Bucket=bucket, Key="hidden", Body=b"x")
    fast.delete_object(Bucket=bucket, Key="hidden")
    eventually(lambda: versions_of(fast, bucket) == [("hidden", False, False), ("hidden", True, True)])


def test_incomplete_uploads_are_aborted(fast: BaseClient) -> None:
    bucket = new_bucket(fast)
    put_rules(fast, bucket, [{"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": "up/"},
                              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}])
    gone = fast.create_multipart_upload(Bucket=bucket, Key="up/x")["UploadId"]
    fast.upload_part(Bucket=bucket, Key="up/x", UploadId=gone, PartNumber=1, Body=b"part")
    kept = fast.create_multipart_upload(Bucket=bucket, Key="other/x")["UploadId"]

    def uploads() -> list[str]:
        return [u["UploadId"] for u in fast.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    eventually(lambda: uploads() == [kept])
    with pytest.raises(ClientError) as aborted:
        fast.list_parts(Bucket=bucket, Key="up/x", UploadId=gone)
    assert error_of(aborted) == (404, "NoSuchUpload")


def test_expiry_under_a_shortened_day_is_announced(fast_cloud: RunningCloud, fast: BaseClient) -> None:
    bucket = new_bucket(fast)
    put_rules(fast, bucket, [expire("soon", 5)])
    written = fast.put_object(Bucket=bucket, Key="k", Body=b"x")
    head = requests.head(fast.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "k"}),
                         timeout=10)
    assert head.headers["x-amz-expiration"] == written["Expiration"]
    due = dt.datetime.strptime(written["Expiration"].split('"')[1], "%a, %d %b %Y %H:%M:%S GMT")
    assert 0 < due.replace(tzinfo=dt.UTC).timestamp() - time.time() <= 7


def test_locked_versions_outlive_their_rules(fast: BaseClient) -> None:
    bucket = unique("life")
    fast.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    put_rules(fast, bucket, [{"ID": "old", "Status": "Enabled", "Filter": {},
                              "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}])
    held = fast.put_object(Bucket=bucket, Key="held", Body=b"1", ObjectLockLegalHoldStatus="ON")["VersionId"]
    fast.put_object(Bucket=bucket, Key="held", Body=b"2")
    fast.put_object(Bucket=bucket, Key="free", Body=b"1")
    fast.put_object(Bucket=bucket, Key="free", Body=b"2")
    eventually(lambda: [key for key, _, _ in versions_of(fast, bucket)] == ["free", "held", "held"])
    assert fast.get_object(Bucket=bucket, Key="held", VersionId=held)["Body"].read() == b"1"
