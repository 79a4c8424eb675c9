"""Places where AWS S3's answer is precise and SDKs branch on it: zero-byte parts, re-creating a bucket,
conditional writes and deletes, tag set order, ListBuckets paging, GetObjectAttributes paging."""

from __future__ import annotations

import datetime
import hashlib
import http.client
import re
import threading
from urllib.parse import urlparse

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique

MIB = 1 << 20


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], str(response["Error"]["Code"])


def body_of(s3: BaseClient, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# ------------------------------------------------------------------------------ multipart, buckets


def test_zero_byte_part_is_a_valid_last_part(s3: BaseClient, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"a" * (5 * MIB))
    empty = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=2, Body=b"")
    assert empty["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    assert [part["Size"] for part in listed] == [5 * MIB, 0]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": empty["ETag"]}]})
    assert s3.head_object(Bucket=bucket, Key="mp")["ContentLength"] == 5 * MIB
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)["ContentLength"] == 0
    assert body_of(s3, bucket, "mp") == b"a" * (5 * MIB)


def test_zero_byte_only_part(s3: BaseClient, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="empty", ChecksumAlgorithm="CRC32")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="empty", UploadId=upload_id, PartNumber=1, Body=b"",
                          ChecksumAlgorithm="CRC32")
    assert part["ChecksumCRC32"] == "AAAAAA=="
    s3.complete_multipart_upload(Bucket=bucket, Key="empty", UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}]})
    assert body_of(s3, bucket, "empty") == b""


def test_recreating_your_own_bucket_in_us_east_1(s3: BaseClient, bucket: str, make_client: MakeClient,
                                                 make_pair: MakePair) -> None:
    """us-east-1 answers 200 to creating a bucket you already own (other regions: 409
    BucketAlreadyOwnedByYou, tested on a server in another region below); another project creates its
    own bucket of that name (names are per project unless STACKBOX_S3_GLOBAL_BUCKET_NAMES, whose 409
    BucketAlreadyExists tests/s3/test_bucket_namespace.py checks) and the first stays the owner's."""
    s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
    assert s3.create_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert body_of(s3, bucket, "kept") == b"x"
    other = make_client(make_pair("member"))
    other.create_bucket(Bucket=bucket)
    assert other.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert body_of(s3, bucket, "kept") == b"x"


@pytest.fixture(scope="module")
def eu_cloud(tmp_path_factory: pytest.TempPathFactory) -> RunningCloud:
    from cloud import start_cloud

    running = start_cloud(tmp_path_factory.mktemp("eu") / "data", workers=1,
                          extra_env={"STACKBOX_S3_REGION": "eu-west-1"})
    yield running
    running.stop()


def test_recreating_your_own_bucket_elsewhere(eu_cloud: RunningCloud) -> None:
    import boto3
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    login = v3.Password(auth_url=eu_cloud.auth_url, username="admin", password=eu_cloud.admin_password,
                        project_name="admin", user_domain_id="default", project_domain_id="default")
    admin = ks_session.Session(auth=login)
    credential = admin.post(f"{eu_cloud.auth_url}/users/{admin.get_user_id()}/credentials/OS-EC2",
                            json={"tenant_id": admin.get_project_id()}).json()["credential"]
    s3 = boto3.client("s3", endpoint_url=eu_cloud.object_url, region_name="eu-west-1",
                      aws_access_key_id=credential["access"], aws_secret_access_key=credential["secret"])
    location = {"LocationConstraint": "eu-west-1"}
    s3.create_bucket(Bucket="mine", CreateBucketConfiguration=location)
    with pytest.raises(ClientError) as excinfo:
        s3.create_bucket(Bucket="mine", CreateBucketConfiguration=location)
    assert error_of(excinfo) == (409, "BucketAlreadyOwnedByYou")


# ------------------------------------------------------------------------------ conditional writes


def test_put_if_match(s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"new", IfMatch='"' + "0" * 32 + '"')
    assert error_of(excinfo) == (404, "NoSuchKey")
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch='"' + "0" * 32 + '"')
    assert error_of(excinfo) == (412, "PreconditionFailed")
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag)["ETag"] != etag
    assert body_of(s3, bucket, "k") == b"two"
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as excinfo:  # a deleted key is a missing one
        s3.put_object(Bucket=bucket, Key="k", Body=b"three", IfMatch="*")
    assert error_of(excinfo) == (404, "NoSuchKey")


def test_put_if_none_match_takes_only_a_star(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", IfNoneMatch="*")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*")
    assert error_of(excinfo) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch='"abc"')
    assert error_of(excinfo) == (501, "NotImplemented")
    assert body_of(s3, bucket, "k") == b"one"


def test_complete_if_match_on_a_missing_key(s3: BaseClient, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"p")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, IfMatch="*",
                                     MultipartUpload=parts)
    assert error_of(excinfo) == (404, "NoSuchKey")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, IfNoneMatch="*",
                                 MultipartUpload=parts)
    assert body_of(s3, bucket, "mp") == b"p"


def _put_racing(cloud: RunningCloud, pair: Ec2Pair, bucket: str, key: str, headers: dict[str, str],
                meanwhile: threading.Event, resume: threading.Event) -> http.client.HTTPResponse:
    """A signed PUT whose body is sent in two halves, waiting in between until `resume` is set."""
    body = b"x" * (256 * 1024)
    url = f"{cloud.object_url}/{bucket}/{key}"
    request = AWSRequest(method="PUT", url=url, data=body,
                         headers={**headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(pair.access, pair.secret), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    connection = http.client.HTTPConnection(urlparse(cloud.object_url).netloc, timeout=30)
    connection.putrequest("PUT", f"/{bucket}/{key}", skip_accept_encoding=True)
    for name, value in prepared.headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(body[: len(body) // 2])
    meanwhile.set()
    resume.wait(30)
    connection.send(body[len(body) // 2:])
    return connection.getresponse()


#: How often the race is run until the other write lands after the racing upload was checked.
RACE_ATTEMPTS = 5


@pytest.mark.parametrize("condition", ["if-none-match", "if-match"])
def test_conditional_put_conflicting_with_a_write_meanwhile(
        cloud: RunningCloud, member: Ec2Pair, s3: BaseClient, bucket: str, condition: str) -> None:
    """The conditions held when the upload began; another write landed before it finished: S3's
    409 ConditionalRequestConflict, and the other write stays. The client cannot see when the server
    has checked the racing upload's head (a balancer may hold it a while): when the other write
    landed first, the answer is a plain 412, and the race is run again."""
    for attempt in range(RACE_ATTEMPTS):
        key = f"raced-{attempt}"
        headers = {"If-None-Match": "*"}
        if condition == "if-match":
            headers = {"If-Match": s3.put_object(Bucket=bucket, Key=key, Body=b"first")["ETag"]}
        status, answer = _race_with_a_write_meanwhile(cloud, member, s3, bucket, key, headers)
        assert body_of(s3, bucket, key) == b"meanwhile"
        if status == 409:
            assert b"<Code>ConditionalRequestConflict</Code>" in answer
            return
        assert (status, b"<Code>PreconditionFailed</Code>" in answer) == (412, True)
    pytest.fail(f"the other write landed before the racing upload was checked {RACE_ATTEMPTS} times")


def _race_with_a_write_meanwhile(cloud: RunningCloud, member: Ec2Pair, s3: BaseClient, bucket: str, key: str,
                                 headers: dict[str, str]) -> tuple[int, bytes]:
    started, resume = threading.Event(), threading.Event()
    answers: list[http.client.HTTPResponse] = []
    racer = threading.Thread(target=lambda: answers.append(
        _put_racing(cloud, member, bucket, key, headers, started, resume)))
    racer.start()
    assert started.wait(30)
    s3.put_object(Bucket=bucket, Key=key, Body=b"meanwhile")
    resume.set()
    racer.join(30)
    return answers[0].status, answers[0].read()


# ------------------------------------------------------------------------------ conditional deletes


def test_delete_if_match(s3: BaseClient, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"hello")["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"' + "0" * 32 + '"')
    assert error_of(excinfo) == (412, "PreconditionFailed")
    assert body_of(s3, bucket, "k") == b"hello"
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    for if_match in (etag, "*"):
        with pytest.raises(ClientError) as excinfo:
            s3.delete_object(Bucket=bucket, Key="k", IfMatch=if_match)
        assert error_of(excinfo) == (404, "NoSuchKey")
    s3.delete_object(Bucket=bucket, Key="k")  # unconditional: a missing key is deleted already


def test_delete_if_size_and_modification_time(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    earlier = modified - datetime.timedelta(seconds=1)
    failing: list[dict[str, object]] = [
        {"IfMatchSize": 4}, {"IfMatchLastModifiedTime": earlier},
        {"IfMatchSize": 5, "IfMatchLastModifiedTime": earlier}, {"IfMatch": "*", "IfMatchSize": 6}]
    for conditions in failing:
        with pytest.raises(ClientError) as excinfo:
            s3.delete_object(Bucket=bucket, Key="k", **conditions)
        assert error_of(excinfo) == (412, "PreconditionFailed"), conditions
    assert body_of(s3, bucket, "k") == b"hello"
    s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=5, IfMatchLastModifiedTime=modified)
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_of(excinfo)[0] == 404
    s3.delete_object(Bucket=bucket, Key="k", IfMatchSize=5)  # documented: no object holds the condition


def test_delete_conditions_refuse_a_version_id(s3: BaseClient, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    with pytest.raises(ClientError) as excinfo:
        s3.delete_object(Bucket=bucket, Key="k", VersionId=put["VersionId"], IfMatch=put["ETag"])
    assert error_of(excinfo) == (501, "NotImplemented")
    assert excinfo.value.response["Error"]["Header"] == "If-Match"
    marker = s3.delete_object(Bucket=bucket, Key="k", IfMatch=put["ETag"])
    assert marker["DeleteMarker"] is True
    with pytest.raises(ClientError) as excinfo:  # under a delete marker there is no current object
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=put["ETag"])
    assert error_of(excinfo) == (404, "NoSuchKey")


def test_delete_objects_per_object_conditions(s3: BaseClient, bucket: str) -> None:
    etags = {key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode())["ETag"] for key in "abcdef"}
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "ETag": etags["a"]},
        {"Key": "b", "ETag": etags["a"]},
        {"Key": "c", "LastModifiedTime": modified, "Size": 1},
        {"Key": "d", "Size": 2},
        {"Key": "e", "LastModifiedTime": modified - datetime.timedelta(days=1)},
        {"Key": "missing", "ETag": etags["f"]},
        {"Key": "f"},
    ]})
    assert sorted(entry["Key"] for entry in answer["Deleted"]) == ["a", "c", "f"]
    assert sorted((entry["Key"], entry["Code"]) for entry in answer["Errors"]) == [
        ("b", "PreconditionFailed"), ("d", "PreconditionFailed"), ("e", "PreconditionFailed"),
        ("missing", "NoSuchKey")]
    left = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["b", "d", "e"]


def test_conditional_delete_by_an_outsider(s3: BaseClient, bucket: str, make_client: MakeClient,
                                           make_pair: MakePair, member: Ec2Pair) -> None:
    """A condition is evaluated only for a caller who may delete: no one else learns from the answer
    whether the key exists or what its ETag is, and nothing is deleted."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"hello")["ETag"]
    outsider = make_client(make_pair("member"))
    reader = make_client(make_pair("reader", project_id=member.project_id))
    for client in (outsider, reader):
        for key, if_match in (("k", etag), ("k", '"' + "0" * 32 + '"'), ("missing", "*")):
            with pytest.raises(ClientError) as excinfo:
                client.delete_object(Bucket=bucket, Key=key, IfMatch=if_match)
            assert error_of(excinfo) == (403, "AccessDenied")
        with pytest.raises(ClientError) as excinfo:
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "ETag": etag}]})
        assert error_of(excinfo) == (403, "AccessDenied")
    assert body_of(s3, bucket, "k") == b"hello"


# ------------------------------------------------------------------------------ tags


def test_tag_sets_come_back_sorted_by_key(s3: BaseClient, bucket: str) -> None:
    given = [{"Key": "zeta", "Value": "1"}, {"Key": "Alpha", "Value": "2"}, {"Key": "mu", "Value": "3"}]
    expected = sorted(given, key=lambda tag: tag["Key"])
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="zeta=1&Alpha=2&mu=3")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == expected
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": given})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == expected
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": given})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == expected


# ------------------------------------------------------------------------------ ListBuckets paging


def test_list_buckets_pages(make_client: MakeClient, make_pair: MakePair) -> None:
    owner = make_client(make_pair("member"))
    prefix = unique("lb")
    names = [f"{prefix}-{n}" for n in range(5)]
    for name in names:
        owner.create_bucket(Bucket=name)
    owner.create_bucket(Bucket=unique("other"))
    seen, token, pages = [], None, 0
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = owner.list_buckets(MaxBuckets=2, Prefix=prefix, **extra)
        assert page["Prefix"] == prefix and len(page["Buckets"]) <= 2
        assert {bucket["BucketRegion"] for bucket in page["Buckets"]} <= {"us-east-1"}
        seen += [bucket["Name"] for bucket in page["Buckets"]]
        pages += 1
        token = page.get("ContinuationToken")
        if token is None:
            break
    assert (seen, pages) == (names, 3)
    assert len(owner.list_buckets()["Buckets"]) == 6
    assert owner.list_buckets(BucketRegion="eu-west-1")["Buckets"] == []
    here = owner.list_buckets(BucketRegion="us-east-1", Prefix=prefix)["Buckets"]
    assert [bucket["Name"] for bucket in here] == names
    stranger = make_client(make_pair("member"))
    assert stranger.list_buckets(Prefix=prefix)["Buckets"] == []


@pytest.mark.parametrize("query", ["max-buckets=0", "max-buckets=10001", "max-buckets=x",
                                   "continuation-token=%25%25"])
def test_list_buckets_bad_paging(cloud: RunningCloud, member: Ec2Pair, query: str) -> None:
    import requests

    request = AWSRequest(method="GET", url=f"{cloud.object_url}/?{query}")
    S3SigV4Auth(Credentials(member.access, member.secret), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    answer = requests.get(prepared.url, headers=dict(prepared.headers), timeout=30)
    assert answer.status_code == 400 and "<Code>InvalidArgument</Code>" in answer.text


# ------------------------------------------------------------------------------ GetObjectAttributes


def test_object_attributes_page_parts(s3: BaseClient, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    parts = []
    for number, body in enumerate((b"a" * (5 * MIB), b"b" * (5 * MIB), b"c"), 1):
        done = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=body)
        parts.append({"PartNumber": number, "ETag": done["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                 MultipartUpload={"Parts": parts})
    page = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1,
                                    PartNumberMarker=1)["ObjectParts"]
    assert (page["TotalPartsCount"], page["PartNumberMarker"], page["NextPartNumberMarker"]) == (3, 1, 2)
    assert (page["MaxParts"], page["IsTruncated"]) == (1, True)
    assert [(part["PartNumber"], part["Size"]) for part in page["Parts"]] == [(2, 5 * MIB)]
    last = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=2)["ObjectParts"]
    assert [part["PartNumber"] for part in last["Parts"]] == [3] and last["IsTruncated"] is False


@pytest.mark.parametrize(("key", "value", "message"), [
    ("aws:created", "x", "Your TagKey cannot be prefixed with aws:"),
    ("AWS:created", "x", "Your TagKey cannot be prefixed with aws:"),
    ("a,b", "x", "The TagKey you have provided is invalid"),
    ("k", "a,b", "The TagValue you have provided is invalid"),
    ("k", "semi;colon", "The TagValue you have provided is invalid"),
    ("k", "x" * 257, "The TagValue you have provided is too long"),
])
def test_invalid_tags(s3: BaseClient, bucket: str, key: str, value: str, message: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    tagging = {"TagSet": [{"Key": key, "Value": value}]}
    attempts = [lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tagging),
                lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging=tagging)]
    for attempt in attempts:
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert error_of(excinfo) == (400, "InvalidTag")
        assert excinfo.value.response["Error"]["Message"] == message
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


def test_tags_in_any_script(s3: BaseClient, bucket: str) -> None:
    tags = [{"Key": "Größe 1", "Value": "東京 +-=._:/@"}, {"Key": "empty", "Value": ""}]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tags})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == sorted(tags, key=lambda t: t["Key"])


# ------------------------------------------------------------------------------ raw requests


def signed(cloud: RunningCloud, pair: Ec2Pair, method: str, path: str, body: bytes = b"",
           headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    import requests

    request = AWSRequest(method=method, url=f"{cloud.object_url}{path}", data=body, headers=headers or {})
    S3SigV4Auth(Credentials(pair.access, pair.secret), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    answer = requests.request(method, prepared.url, headers=dict(prepared.headers), data=body, timeout=30)
    return answer.status_code, answer.text, dict(answer.headers)


def md5_of(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_control_documents_are_checked_against_their_content_md5(cloud: RunningCloud, member: Ec2Pair,
                                                                  s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    tags = b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"
    delete = b"<Delete><Object><Key>k</Key></Object></Delete>"
    documents = ((f"/{bucket}/k?tagging", tags), (f"/{bucket}?tagging", tags), (f"/{bucket}?delete", delete))
    for path, body in documents:
        method = "POST" if path.endswith("?delete") else "PUT"
        status, text, _ = signed(cloud, member, method, path, body, {"Content-MD5": md5_of(b"other")})
        assert (status, "<Code>BadDigest</Code>" in text) == (400, True), text
        status, text, _ = signed(cloud, member, method, path, body, {"Content-MD5": "not-an-md5"})
        assert (status, "<Code>InvalidDigest</Code>" in text) == (400, True), text
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    status, text, _ = signed(cloud, member, "POST", f"/{bucket}?delete", delete)
    assert (status, "<Code>InvalidRequest</Code>" in text) == (400, True), text
    assert "Content-MD5 OR x-amz-checksum-*" in text
    assert body_of(s3, bucket, "k") == b"x"
    status, text, _ = signed(cloud, member, "POST", f"/{bucket}?delete", delete,
                             {"Content-MD5": md5_of(delete)})
    assert status == 200 and "<Deleted><Key>k</Key></Deleted>" in text


def test_only_the_standard_storage_class(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass="STANDARD")
    for storage_class in ("GLACIER", "DEEP_ARCHIVE"):
        with pytest.raises(ClientError) as excinfo:
            s3.put_object(Bucket=bucket, Key="k", Body=b"y", StorageClass=storage_class)
        assert error_of(excinfo) == (400, "InvalidStorageClass")
        with pytest.raises(ClientError) as excinfo:
            s3.create_multipart_upload(Bucket=bucket, Key="mp", StorageClass=storage_class)
        assert error_of(excinfo) == (400, "InvalidStorageClass")
    assert body_of(s3, bucket, "k") == b"x"


@pytest.mark.parametrize(("sent", "stored"), [("aws-chunked, gzip", "gzip"), ("gzip, aws-chunked", "gzip"),
                                              ("gzip, br", "gzip, br"), ("aws-chunked", None)])
def test_aws_chunked_is_not_stored_as_a_content_encoding(cloud: RunningCloud, member: Ec2Pair,
                                                         s3: BaseClient, bucket: str, sent: str,
                                                         stored: str | None) -> None:
    status, text, _ = signed(cloud, member, "PUT", f"/{bucket}/k", b"data", {"Content-Encoding": sent})
    assert status == 200, text
    assert s3.head_object(Bucket=bucket, Key="k").get("ContentEncoding") == stored


def test_anonymous_callers_learn_only_that_no_bucket_has_a_name(cloud: RunningCloud, s3: BaseClient,
                                                                 make_client: MakeClient) -> None:
    """A name no one holds (never created, or deleted) is NoSuchBucket for everyone, as in S3; a name
    someone holds stays AccessDenied to those it does not grant."""
    anonymous = make_client(None)
    deleted, private = unique("gone"), unique("private")
    s3.create_bucket(Bucket=deleted)
    s3.delete_bucket(Bucket=deleted)
    s3.create_bucket(Bucket=private)
    s3.put_object(Bucket=private, Key="k", Body=b"secret")
    for name in (unique("never"), deleted):
        with pytest.raises(ClientError) as excinfo:
            anonymous.list_objects_v2(Bucket=name)
        assert error_of(excinfo) == (404, "NoSuchBucket")
        with pytest.raises(ClientError) as excinfo:
            anonymous.get_object(Bucket=name, Key="k")
        assert error_of(excinfo) == (404, "NoSuchBucket")
        with pytest.raises(ClientError) as excinfo:
            anonymous.put_object(Bucket=name, Key="k", Body=b"x")
        assert error_of(excinfo) == (404, "NoSuchBucket")
    for attempt in (lambda: anonymous.list_objects_v2(Bucket=private),
                    lambda: anonymous.get_object(Bucket=private, Key="k"),
                    lambda: anonymous.get_object(Bucket=private, Key="missing"),
                    lambda: anonymous.put_object(Bucket=private, Key="k", Body=b"x")):
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert error_of(excinfo) == (403, "AccessDenied")
    assert body_of(s3, private, "k") == b"secret"


def test_part_numbers_of_a_simple_object(s3: BaseClient, bucket: str) -> None:
    """Part 1 of an object uploaded whole is all of it, answered as a range (206 with Content-Range, as
    AWS); any other part is 416 InvalidPartNumber (HEAD: the status alone); out of 1..10000 is 400."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="k", PartNumber=1)
    assert (got["ResponseMetadata"]["HTTPStatusCode"], got["ContentRange"]) == (206, "bytes 0-9/10")
    assert got["Body"].read() == b"0123456789" and "PartsCount" not in got
    head = s3.head_object(Bucket=bucket, Key="k", PartNumber=1)
    assert (head["ResponseMetadata"]["HTTPStatusCode"], head["ContentLength"]) == (206, 10)
    for read in (s3.get_object, s3.head_object):
        with pytest.raises(ClientError) as excinfo:
            read(Bucket=bucket, Key="k", PartNumber=2)
        assert error_of(excinfo)[0] == 416
        with pytest.raises(ClientError) as excinfo:
            read(Bucket=bucket, Key="k", PartNumber=10001)
        assert error_of(excinfo)[0] == 400
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert error_of(excinfo) == (416, "InvalidPartNumber")
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    empty = s3.get_object(Bucket=bucket, Key="empty", PartNumber=1)
    assert (empty["ResponseMetadata"]["HTTPStatusCode"], empty["Body"].read()) == (200, b"")


@pytest.mark.parametrize("kind", ["FULL_OBJECT", "COMPOSITE"])
def test_completion_checksum_header_is_the_whole_objects(s3: BaseClient, bucket: str, kind: str) -> None:
    """CompleteMultipartUpload's x-amz-checksum-crc32 is the object's checksum (of all its bytes, or the
    `-N` checksum of the parts' checksums), not one of the XML document: right passes, wrong is BadDigest."""
    import base64
    import zlib

    def crc(data: bytes) -> bytes:
        return zlib.crc32(data).to_bytes(4, "big")

    parts = [b"a" * (5 * MIB), b"tail"]
    if kind == "FULL_OBJECT":
        whole = base64.b64encode(crc(b"".join(parts))).decode()
    else:
        whole = base64.b64encode(crc(b"".join(crc(part) for part in parts))).decode() + "-2"
    for declared, expected in (("AAAAAA==" + whole[8:], "BadDigest"), (whole, None)):
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=kind, ChecksumAlgorithm="CRC32",
                                               ChecksumType=kind)["UploadId"]
        listed = []
        for number, body in enumerate(parts, 1):
            done = s3.upload_part(Bucket=bucket, Key=kind, UploadId=upload_id, PartNumber=number, Body=body,
                                  ChecksumAlgorithm="CRC32")
            listed.append({"PartNumber": number, "ETag": done["ETag"],
                           "ChecksumCRC32": done["ChecksumCRC32"]})
        complete = {"Bucket": bucket, "Key": kind, "UploadId": upload_id, "ChecksumCRC32": declared,
                    "ChecksumType": kind, "MultipartUpload": {"Parts": listed}}
        if expected is not None:
            with pytest.raises(ClientError) as excinfo:
                s3.complete_multipart_upload(**complete)
            assert error_of(excinfo) == (400, expected)
            s3.abort_multipart_upload(Bucket=bucket, Key=kind, UploadId=upload_id)
            continue
        assert s3.complete_multipart_upload(**complete)["ChecksumCRC32"] == whole
    head = s3.head_object(Bucket=bucket, Key=kind, ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (whole, kind)


def test_configurations_a_bucket_never_has(s3: BaseClient, bucket: str, make_client: MakeClient,
                                           make_pair: MakePair) -> None:
    """What S3 answers for a bucket without logging, acceleration, notifications, requester pays,
    replication or a website (Terraform reads each back); setting them stays NotImplemented; a caller
    of another project gets AccessDenied, not the answers."""
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=bucket)
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert not any(name.endswith("Configurations") for name in notification)
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    for read, code in ((s3.get_bucket_replication, "ReplicationConfigurationNotFoundError"),
                       (s3.get_bucket_website, "NoSuchWebsiteConfiguration")):
        with pytest.raises(ClientError) as excinfo:
            read(Bucket=bucket)
        assert error_of(excinfo) == (404, code)
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_accelerate_configuration(Bucket=bucket, AccelerateConfiguration={"Status": "Enabled"})
    assert error_of(excinfo) == (501, "NotImplemented")
    outsider = make_client(make_pair("member"))
    for read in (outsider.get_bucket_logging, outsider.get_bucket_replication, outsider.get_bucket_website):
        with pytest.raises(ClientError) as excinfo:
            read(Bucket=bucket)
        assert error_of(excinfo) == (403, "AccessDenied")
    with pytest.raises(ClientError) as excinfo:
        s3.get_bucket_logging(Bucket=unique("missing"))
    assert error_of(excinfo) == (404, "NoSuchBucket")


def test_allow_unordered_listings(cloud: RunningCloud, member: Ec2Pair, s3: BaseClient, bucket: str) -> None:
    """Ceph's `allow-unordered` (s3cmd sends it): accepted, the listing is in order anyway; with a
    delimiter it is InvalidArgument, as Ceph answers (an unordered listing cannot roll up prefixes)."""
    for key in ("b", "a/1", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    for version in ("", "list-type=2&"):
        status, text, _ = signed(cloud, member, "GET", f"/{bucket}?{version}allow-unordered=true")
        assert status == 200 and re.findall(r"<Key>([^<]+)</Key>", text) == ["a/1", "b", "c"]
        query = f"{version}allow-unordered=true&delimiter=%2F"
        status, text, _ = signed(cloud, member, "GET", f"/{bucket}?{query}")
        assert (status, "<Code>InvalidArgument</Code>" in text) == (400, True), text


@pytest.mark.single_node("HAProxy drops a request whose client half-closes mid-body; no node sees it")
def test_a_body_shorter_than_its_content_length(cloud: RunningCloud, member: Ec2Pair, s3: BaseClient,
                                                bucket: str) -> None:
    """The client sends half the bytes it announced and closes its sending side: S3's 400
    IncompleteBody reaches it (the connection then closes) and nothing is stored."""
    import socket

    body = b"0123456789"
    request = AWSRequest(method="PUT", url=f"{cloud.object_url}/{bucket}/short", data=body,
                         headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(member.access, member.secret), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    address = urlparse(cloud.object_url)
    head = [f"PUT /{bucket}/short HTTP/1.1", f"Host: {address.netloc}"]
    head += [f"{name}: {value}" for name, value in prepared.headers.items() if name.lower() != "host"]
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:5])
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"<Code>IncompleteBody</Code>" in answer, answer
    assert b"connection: close" in answer.lower()
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_copy_object_destination_conditions(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfMatch="*")
    assert error_of(excinfo) == (404, "NoSuchKey")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfNoneMatch="*")
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfNoneMatch="*")
    assert error_of(excinfo) == (412, "PreconditionFailed")
    etag = s3.head_object(Bucket=bucket, Key="dst")["ETag"]
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfMatch=etag,
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"v": "2"}
