"""S3 versioning with boto3, the aws CLI and raw requests: bucket state, versions, delete markers,
version listings, and who may see them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import BIN, RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique
from s3.test_clis import run


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


@pytest.fixture
def versioned(s3: BaseClient, bucket: str) -> str:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def test_bucket_versioning_state(s3: BaseClient, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_bad_versioning_configurations(cloud: RunningCloud, s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as bad_status:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "On"})
    assert error_of(bad_status) == (400, "MalformedXML")
    with pytest.raises(ClientError) as empty:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={})
    assert error_of(empty) == (400, "IllegalVersioningConfigurationException")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_overwrite_keeps_versions_readable_by_id(s3: BaseClient, versioned: str) -> None:
    first = s3.put_object(Bucket=versioned, Key="k", Body=b"first")["VersionId"]
    second = s3.put_object(Bucket=versioned, Key="k", Body=b"second")["VersionId"]
    assert first != second and "null" not in (first, second)
    current = s3.get_object(Bucket=versioned, Key="k")
    assert (current["Body"].read(), current["VersionId"]) == (b"second", second)
    old = s3.get_object(Bucket=versioned, Key="k", VersionId=first)
    assert (old["Body"].read(), old["VersionId"]) == (b"first", first)
    assert s3.head_object(Bucket=versioned, Key="k", VersionId=first)["ContentLength"] == 5
    listing = s3.list_object_versions(Bucket=versioned)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in listing["Versions"]] == [
        ("k", second, True), ("k", first, False)]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=versioned)["Contents"]] == ["k"]


def test_delete_marker_then_restore(s3: BaseClient, versioned: str) -> None:
    kept = s3.put_object(Bucket=versioned, Key="k", Body=b"data")["VersionId"]
    deleted = s3.delete_object(Bucket=versioned, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] not in (kept, "null")
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=versioned, Key="k")
    assert error_of(missing) == (404, "NoSuchKey")
    assert missing.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as marker:
        s3.get_object(Bucket=versioned, Key="k", VersionId=deleted["VersionId"])
    assert error_of(marker) == (405, "MethodNotAllowed")
    assert "Contents" not in s3.list_objects_v2(Bucket=versioned)
    [entry] = s3.list_object_versions(Bucket=versioned)["DeleteMarkers"]
    assert (entry["VersionId"], entry["IsLatest"]) == (deleted["VersionId"], True)
    undone = s3.delete_object(Bucket=versioned, Key="k", VersionId=deleted["VersionId"])
    assert undone["DeleteMarker"] is True and undone["VersionId"] == deleted["VersionId"]
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"data"


def test_deleting_the_latest_version_promotes_the_previous(s3: BaseClient, versioned: str) -> None:
    first = s3.put_object(Bucket=versioned, Key="k", Body=b"first")["VersionId"]
    second = s3.put_object(Bucket=versioned, Key="k", Body=b"second")["VersionId"]
    answer = s3.delete_object(Bucket=versioned, Key="k", VersionId=second)
    assert answer["VersionId"] == second and "DeleteMarker" not in answer
    current = s3.get_object(Bucket=versioned, Key="k")
    assert (current["Body"].read(), current["VersionId"]) == (b"first", first)
    with pytest.raises(ClientError) as gone:
        s3.get_object(Bucket=versioned, Key="k", VersionId=second)
    assert error_of(gone) == (404, "NoSuchVersion")


def test_invalid_version_ids_are_refused(cloud: RunningCloud, s3: BaseClient, versioned: str) -> None:
    s3.put_object(Bucket=versioned, Key="k", Body=b"x")
    with pytest.raises(ClientError) as invalid:
        s3.get_object(Bucket=versioned, Key="k", VersionId="not-a-version")
    assert error_of(invalid) == (400, "InvalidArgument")
    assert invalid.value.response["Error"]["Message"] == "Invalid version id specified"
    with pytest.raises(ClientError) as unknown:
        s3.get_object(Bucket=versioned, Key="k", VersionId="0" * 32)
    assert error_of(unknown) == (404, "NoSuchVersion")


def test_never_versioned_bucket_lists_null_versions(s3: BaseClient, bucket: str) -> None:
    answer = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "VersionId" not in answer
    assert "VersionId" not in s3.get_object(Bucket=bucket, Key="k")
    [version] = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert (version["Key"], version["VersionId"], version["IsLatest"]) == ("k", "null", True)
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"x"
    assert "DeleteMarker" not in s3.delete_object(Bucket=bucket, Key="k")
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)


def test_suspended_bucket_writes_the_null_version(s3: BaseClient, versioned: str) -> None:
    named = s3.put_object(Bucket=versioned, Key="k", Body=b"named")["VersionId"]
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=versioned, Key="k", Body=b"one")["VersionId"] == "null"
    assert s3.put_object(Bucket=versioned, Key="k", Body=b"two")["VersionId"] == "null"
    versions = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [v["VersionId"] for v in versions] == ["null", named]
    assert s3.get_object(Bucket=versioned, Key="k", VersionId="null")["Body"].read() == b"two"


def test_version_listing_pages_and_prefixes(s3: BaseClient, versioned: str) -> None:
    made = []
    for key in ("a", "b", "b", "dir/x", "dir/y", "e"):
        made.append((key, s3.put_object(Bucket=versioned, Key=key, Body=b"x")["VersionId"]))
    made[1], made[2] = made[2], made[1]  # newest first within a key
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=versioned, PaginationConfig={
            "PageSize": 2}):
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
    assert seen == made
    rolled = s3.list_object_versions(Bucket=versioned, Delimiter="/", Prefix="")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["dir/"]
    assert [v["Key"] for v in rolled["Versions"]] == ["a", "b", "b", "e"]
    prefixed = s3.list_object_versions(Bucket=versioned, Prefix="dir/", EncodingType="url")
    assert [v["Key"] for v in prefixed["Versions"]] == ["dir/x", "dir/y"]
    with pytest.raises(ClientError) as alone:
        s3.list_object_versions(Bucket=versioned, VersionIdMarker=made[0][1])
    assert error_of(alone) == (400, "InvalidArgument")


def test_copy_restores_an_old_version(s3: BaseClient, versioned: str) -> None:
    first = s3.put_object(Bucket=versioned, Key="k", Body=b"first")["VersionId"]
    s3.put_object(Bucket=versioned, Key="k", Body=b"second")
    copied = s3.copy_object(Bucket=versioned, Key="k", CopySource={"Bucket": versioned, "Key": "k",
                                                                   "VersionId": first})
    assert copied["CopySourceVersionId"] == first and copied["VersionId"] != first
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"first"
    marker = s3.delete_object(Bucket=versioned, Key="other")["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.copy_object(Bucket=versioned, Key="x", CopySource={"Bucket": versioned, "Key": "other",
                                                              "VersionId": marker})
    assert error_of(refused) == (400, "InvalidRequest")


def test_tagging_and_attributes_of_a_version(s3: BaseClient, versioned: str) -> None:
    first = s3.put_object(Bucket=versioned, Key="k", Body=b"first")["VersionId"]
    s3.put_object(Bucket=versioned, Key="k", Body=b"second")
    tagged = s3.put_object_tagging(Bucket=versioned, Key="k", VersionId=first,
                                   Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]})
    assert tagged["VersionId"] == first
    assert s3.get_object_tagging(Bucket=versioned, Key="k", VersionId=first)["TagSet"] == [
        {"Key": "old", "Value": "yes"}]
    assert s3.get_object_tagging(Bucket=versioned, Key="k")["TagSet"] == []
    attributes = s3.get_object_attributes(Bucket=versioned, Key="k", VersionId=first,
                                          ObjectAttributes=["ObjectSize"])
    assert (attributes["ObjectSize"], attributes["VersionId"]) == (5, first)


def test_multipart_completion_makes_a_version(s3: BaseClient, versioned: str) -> None:
    upload = s3.create_multipart_upload(Bucket=versioned, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=versioned, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    done = s3.complete_multipart_upload(Bucket=versioned, Key="mp", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert done["VersionId"] == s3.head_object(Bucket=versioned, Key="mp")["VersionId"]


def test_delete_objects_with_versions(s3: BaseClient, versioned: str) -> None:
    first = s3.put_object(Bucket=versioned, Key="k", Body=b"first")["VersionId"]
    s3.put_object(Bucket=versioned, Key="j", Body=b"j")
    result = s3.delete_objects(Bucket=versioned, Delete={"Objects": [
        {"Key": "k", "VersionId": first}, {"Key": "j"}, {"Key": "k", "VersionId": "bad"}]})
    deleted = {(d["Key"], d.get("VersionId")): d for d in result["Deleted"]}
    assert ("k", first) in deleted and "DeleteMarker" not in deleted["k", first]
    assert deleted["j", None]["DeleteMarker"] is True and deleted["j", None]["DeleteMarkerVersionId"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("k", "NoSuchVersion")]


def test_bucket_with_versions_or_markers_is_not_empty(s3: BaseClient, versioned: str) -> None:
    version = s3.put_object(Bucket=versioned, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=versioned, Key="k")["VersionId"]
    with pytest.raises(ClientError) as held:
        s3.delete_bucket(Bucket=versioned)
    assert error_of(held) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=versioned, Key="k", VersionId=version)
    with pytest.raises(ClientError) as marked:
        s3.delete_bucket(Bucket=versioned)
    assert error_of(marked) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=versioned, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=versioned)


def test_another_project_cannot_see_versions(make_pair: MakePair, make_client: MakeClient, s3: BaseClient,
                                             versioned: str) -> None:
    first = s3.put_object(Bucket=versioned, Key="k", Body=b"secret")["VersionId"]
    s3.put_object(Bucket=versioned, Key="k", Body=b"newer")
    attacker = make_client(make_pair("member"))
    for attempt in (lambda: attacker.list_object_versions(Bucket=versioned),
                    lambda: attacker.get_object(Bucket=versioned, Key="k", VersionId=first),
                    lambda: attacker.delete_object(Bucket=versioned, Key="k", VersionId=first),
                    lambda: attacker.get_bucket_versioning(Bucket=versioned),
                    lambda: attacker.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={
                        "Status": "Suspended"})):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert error_of(refused) == (403, "AccessDenied")
    assert s3.get_object(Bucket=versioned, Key="k", VersionId=first)["Body"].read() == b"secret"
    assert s3.get_bucket_versioning(Bucket=versioned)["Status"] == "Enabled"


def test_anonymous_reads_of_versions_are_authorized_as_current_ones(cloud: RunningCloud, s3: BaseClient,
                                                                   versioned: str) -> None:
    private = s3.put_object(Bucket=versioned, Key="k", Body=b"private")["VersionId"]
    public = s3.put_object(Bucket=versioned, Key="k", Body=b"public", ACL="public-read")["VersionId"]
    s3.put_object(Bucket=versioned, Key="other", Body=b"private current")
    bucket_url = f"{cloud.object_url}/{versioned}"
    assert requests.get(f"{bucket_url}/k", params={"versionId": public}, timeout=10).content == b"public"
    assert requests.get(f"{bucket_url}/k", params={"versionId": private}, timeout=10).status_code == 403
    assert requests.get(bucket_url, params={"versions": ""}, timeout=10).status_code == 403
    # A public-read bucket lets anyone read its objects here: an old version exactly as a current one.
    s3.put_bucket_acl(Bucket=versioned, ACL="public-read")
    listed = requests.get(bucket_url, params={"versions": ""}, timeout=10)
    assert listed.status_code == 200 and private in listed.text
    assert requests.get(f"{bucket_url}/other", timeout=10).status_code == 200
    assert requests.get(f"{bucket_url}/k", params={"versionId": private}, timeout=10).content == b"private"
    assert requests.delete(f"{bucket_url}/k", params={"versionId": private}, timeout=10).status_code == 403
    assert requests.put(bucket_url, params={"versioning": ""}, timeout=10,
                        data=b"<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>"
                        ).status_code == 403
    assert s3.get_object(Bucket=versioned, Key="k", VersionId=private)["Body"].read() == b"private"


def test_aws_cli_versioning(cloud: RunningCloud, member: Ec2Pair, tmp_path: Path) -> None:
    env = cloud.cli_env(AWS_ACCESS_KEY_ID=member.access, AWS_SECRET_ACCESS_KEY=member.secret,
                        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"))

    def aws(*args: str) -> str:
        return run([str(BIN / "aws"), "--endpoint-url", cloud.object_url, *args], env)

    name = unique("awsver")
    (tmp_path / "v1").write_bytes(b"one")
    (tmp_path / "v2").write_bytes(b"two")
    aws("s3", "mb", f"s3://{name}")
    aws("s3api", "put-bucket-versioning", "--bucket", name, "--versioning-configuration", "Status=Enabled")
    assert json.loads(aws("s3api", "get-bucket-versioning", "--bucket", name))["Status"] == "Enabled"
    first = json.loads(aws("s3api", "put-object", "--bucket", name, "--key", "f",
                           "--body", str(tmp_path / "v1")))
    aws("s3", "cp", str(tmp_path / "v2"), f"s3://{name}/f")
    aws("s3", "rm", f"s3://{name}/f")
    listing = json.loads(aws("s3api", "list-object-versions", "--bucket", name))
    assert [v["VersionId"] for v in listing["Versions"]][1] == first["VersionId"]
    assert listing["DeleteMarkers"][0]["IsLatest"] is True
    aws("s3api", "get-object", "--bucket", name, "--key", "f", "--version-id", first["VersionId"],
        str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == b"one"
    for version in listing["Versions"] + listing["DeleteMarkers"]:
        aws("s3api", "delete-object", "--bucket", name, "--key", "f", "--version-id", version["VersionId"])
    aws("s3", "rb", f"s3://{name}")


def test_acl_of_a_version(s3: BaseClient, versioned: str) -> None:
    first = s3.put_object(Bucket=versioned, Key="k", Body=b"first")["VersionId"]
    s3.put_object(Bucket=versioned, Key="k", Body=b"second")
    s3.put_object_acl(Bucket=versioned, Key="k", VersionId=first, ACL="public-read")
    grants = s3.get_object_acl(Bucket=versioned, Key="k", VersionId=first)["Grants"]
    assert any(grant["Permission"] == "READ" for grant in grants)
    current = s3.get_object_acl(Bucket=versioned, Key="k")["Grants"]
    assert not any(grant["Permission"] == "READ" for grant in current)
