"""Buckets and objects through boto3 with its default configuration (trailer checksums on)."""

from __future__ import annotations

import base64
import hashlib
import time
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from botocore.awsrequest import AWSPreparedRequest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient, unique


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_bucket_lifecycle(s3: BaseClient) -> None:
    name = unique("life")
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    # us-east-1: creating a bucket you own again succeeds (elsewhere: BucketAlreadyOwnedByYou).
    assert s3.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as excinfo:
        s3.delete_bucket(Bucket=name)
    assert error_code(excinfo) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as excinfo:
        s3.head_bucket(Bucket=name)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as excinfo:
        s3.list_objects_v2(Bucket=name)
    assert error_code(excinfo) == "NoSuchBucket"


@pytest.mark.parametrize("name", ["Bad_Bucket", "ab", "-abc", "a" * 64, "192.168.1.1", "a..b"])
def test_invalid_bucket_names(s3: BaseClient, name: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        s3.create_bucket(Bucket=name)
    assert error_code(excinfo) == "InvalidBucketName"


def test_put_get_head_with_attributes(s3: BaseClient, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="dir/obj.txt", Body=b"hello s3\n", ContentType="text/plain",
                        Metadata={"color": "green"}, ContentEncoding="identity", ContentDisposition="inline",
                        ContentLanguage="en", CacheControl="no-cache",
                        Expires=datetime(2030, 1, 1, tzinfo=UTC))
    assert put["ETag"] == '"' + hashlib.md5(b"hello s3\n").hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key="dir/obj.txt")
    assert got["Body"].read() == b"hello s3\n"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"color": "green"}
    content_headers = ("ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")
    assert [got[name] for name in content_headers] == ["identity", "inline", "en", "no-cache"]
    head = s3.head_object(Bucket=bucket, Key="dir/obj.txt")
    assert head["ContentLength"] == 9 and head["ETag"] == put["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_code(excinfo) == "NoSuchKey"
    s3.delete_object(Bucket=bucket, Key="dir/obj.txt")
    s3.delete_object(Bucket=bucket, Key="dir/obj.txt")  # deleting nothing succeeds
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dir/obj.txt")


def test_default_trailer_checksum_is_stored_and_returned(s3: BaseClient, bucket: str) -> None:
    body = b"checksummed body" * 1000
    s3.put_object(Bucket=bucket, Key="c", Body=body)
    expected = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == expected
    assert got["Body"].read() == body
    attrs = s3.get_object_attributes(Bucket=bucket, Key="c",
                                     ObjectAttributes=["Checksum", "ObjectSize", "ETag"])
    assert attrs["Checksum"]["ChecksumCRC32"] == expected
    assert attrs["ObjectSize"] == len(body)


@pytest.mark.parametrize("algorithm", ["CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_other_checksum_algorithms(s3: BaseClient, bucket: str, algorithm: str) -> None:
    put = s3.put_object(Bucket=bucket, Key=algorithm, Body=b"data" * 100, ChecksumAlgorithm=algorithm)
    got = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]


def test_large_object_streams(s3: BaseClient, bucket: str) -> None:
    body = bytes(range(256)) * (12 * 4096)  # 12 MiB: boto3 sends it in one aws-chunked PUT
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body


def test_ranges(s3: BaseClient, bucket: str) -> None:
    body = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["Body"].read() == body[10:20]
    assert got["ContentRange"] == "bytes 10-19/100"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=95-")["Body"].read() == body[95:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=90-200")["Body"].read() == body[90:]
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=100-")
    assert error_code(excinfo) == "InvalidRange"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    # S3 serves one range per GET: several ranges get the whole object, as AWS answers them.
    multi = s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-1,50-51")
    assert (multi["ResponseMetadata"]["HTTPStatusCode"], multi["Body"].read()) == (200, body)
    assert "ContentRange" not in multi


def test_conditional_reads(s3: BaseClient, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert error_code(excinfo) == "PreconditionFailed"
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    future = datetime.now(UTC) + timedelta(hours=1)
    past = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert s3.head_object(Bucket=bucket, Key="c", IfModifiedSince=past)["ETag"] == etag
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert error_code(excinfo) == "PreconditionFailed"


def test_conditional_writes(s3: BaseClient, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="w", Body=b"v1", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="w", Body=b"v2", IfNoneMatch="*")
    assert error_code(excinfo) == "PreconditionFailed"
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="w", Body=b"v2", IfMatch='"00000000000000000000000000000000"')
    assert error_code(excinfo) == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="w", Body=b"v3", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"v3"


def test_response_overrides(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="image/png",
                        ResponseContentDisposition="attachment; filename=x.png",
                        ResponseCacheControl="max-age=1")
    assert got["ContentType"] == "image/png"
    assert got["ContentDisposition"] == "attachment; filename=x.png"
    assert got["CacheControl"] == "max-age=1"


def test_list_objects_v2_pagination_and_delimiter(s3: BaseClient, bucket: str) -> None:
    keys = [f"p/{i:03d}" for i in range(25)] + ["a/x", "a/y", "b", "c/z"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    seen: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=7, **token)
        seen += [item["Key"] for item in page.get("Contents", [])]
        assert page["KeyCount"] <= 7
        if not page["IsTruncated"]:
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    assert seen == sorted(keys)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "c/", "p/"]
    assert [item["Key"] for item in top["Contents"]] == ["b"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="p/020", Prefix="p/")
    assert [item["Key"] for item in after["Contents"]] == [f"p/{i:03d}" for i in range(21, 25)]
    assert "Owner" not in after["Contents"][0]
    assert "Owner" in s3.list_objects_v2(Bucket=bucket, Prefix="b", FetchOwner=True)["Contents"][0]


def test_list_objects_v1_markers(s3: BaseClient, bucket: str) -> None:
    for key in ["a/1", "a/2", "b/1", "c"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    page = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert page["IsTruncated"] and page["NextMarker"] == "b/"
    rest = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=page["NextMarker"])
    assert [item["Key"] for item in rest["Contents"]] == ["c"] and not rest["IsTruncated"]
    assert [item["Key"] for item in s3.list_objects(Bucket=bucket, Marker="a/2")["Contents"]] == ["b/1", "c"]
    paginator = s3.get_paginator("list_objects")
    assert sum(len(p.get("Contents", [])) for p in paginator.paginate(Bucket=bucket, PaginationConfig={
        "PageSize": 1})) == 4


def test_listing_url_encoding(s3: BaseClient, bucket: str) -> None:
    key = "sp ace/ünï+cødé&<x>"
    s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    # boto3 asks for encoding-type=url and decodes the keys itself.
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    assert [item["Key"] for item in s3.list_objects(Bucket=bucket)["Contents"]] == [key]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"1"


def test_delete_objects(s3: BaseClient, bucket: str) -> None:
    for key in ["d1", "d2", "keep"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    objects = [{"Key": "d1"}, {"Key": "d2"}, {"Key": "nope"}]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    assert sorted(item["Key"] for item in result["Deleted"]) == ["d1", "d2", "nope"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_copy_object(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"a": "1"}, ContentType="text/x")
    copied = s3.copy_object(Bucket=bucket, Key="same-meta", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == '"' + hashlib.md5(b"payload").hexdigest() + '"'
    head = s3.head_object(Bucket=bucket, Key="same-meta")
    assert head["Metadata"] == {"a": "1"} and head["ContentType"] == "text/x"
    s3.copy_object(Bucket=bucket, Key="new-meta", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/y")
    head = s3.head_object(Bucket=bucket, Key="new-meta")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "text/y"
    assert s3.get_object(Bucket=bucket, Key="new-meta")["Body"].read() == b"payload"
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert error_code(excinfo) == "InvalidRequest"
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/src", CopySourceIfMatch='"abc"')
    assert error_code(excinfo) == "PreconditionFailed"
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/missing")
    assert error_code(excinfo) == "NoSuchKey"


def test_object_and_bucket_tagging(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=two")
    head = s3.head_object(Bucket=bucket, Key="t")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two")]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    with pytest.raises(ClientError) as excinfo:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_code(excinfo) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "test"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "env", "Value": "test"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as excinfo:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"}
                                                                         for i in range(11)]})
    assert error_code(excinfo) == "BadRequest"


def test_canned_acls(s3: BaseClient, bucket: str) -> None:
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    s3.put_object(Bucket=bucket, Key="pub", Body=b"public", ACL="public-read")
    grants = s3.get_object_acl(Bucket=bucket, Key="pub")["Grants"]
    all_users = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}
    assert all_users in [grant["Grantee"] for grant in grants]
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert len(s3.get_bucket_acl(Bucket=bucket)["Grants"]) == 3
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_acl(Bucket=bucket, ACL="bogus")
    assert error_code(excinfo) == "InvalidArgument"


def test_anonymous_access_follows_canned_acls(s3: BaseClient, bucket: str, cloud: RunningCloud) -> None:
    url = f"{cloud.object_url}/{bucket}"
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    s3.put_object(Bucket=bucket, Key="public", Body=b"hello", ACL="public-read")
    assert requests.get(f"{url}/private", timeout=10).status_code == 403
    assert requests.get(f"{url}/public", timeout=10).content == b"hello"
    assert requests.get(url, timeout=10).status_code == 403
    assert requests.put(f"{url}/anon", data=b"x", timeout=10).status_code == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert b"<Key>private</Key>" in requests.get(url, timeout=10).content
    assert requests.put(f"{url}/anon", data=b"anon", timeout=10).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="anon")["Body"].read() == b"anon"
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert requests.get(f"{url}/private", timeout=10).status_code == 403


def test_virtual_hosted_style(s3: BaseClient, bucket: str, make_client: MakeClient, member: Ec2Pair) -> None:
    s3.put_object(Bucket=bucket, Key="vh/key", Body=b"virtual")
    virtual = make_client(member, s3={"addressing_style": "virtual"})
    # Requests go to http://BUCKET.localhost:PORT; resolve it to loopback by sending the Host header.
    virtual.meta.events.register("before-send.s3", _to_loopback)
    assert virtual.get_object(Bucket=bucket, Key="vh/key")["Body"].read() == b"virtual"
    virtual.put_object(Bucket=bucket, Key="vh/two", Body=b"2")
    assert [i["Key"] for i in virtual.list_objects_v2(Bucket=bucket, Prefix="vh/")["Contents"]] == [
        "vh/key", "vh/two"]


def _to_loopback(request: AWSPreparedRequest, **_: object) -> None:
    parts = urlsplit(request.url)
    if (parts.hostname or "").endswith(".localhost"):
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_presigned_get_and_put(make_client: MakeClient, member: Ec2Pair, bucket: str,
                               signature_version: str) -> None:
    client = make_client(member, signature_version=signature_version)
    target = {"Bucket": bucket, "Key": "ps"}
    put_url = client.generate_presigned_url("put_object", Params=target, ExpiresIn=60)
    assert requests.put(put_url, data=b"presigned", timeout=10).status_code == 200
    get_url = client.generate_presigned_url("get_object", Params=target, ExpiresIn=60)
    assert requests.get(get_url, timeout=10).content == b"presigned"
    tampered = get_url.replace("Signature=", "Signature=0")
    assert tampered != get_url
    response = requests.get(tampered, timeout=10)
    assert response.status_code == 403 and b"SignatureDoesNotMatch" in response.content


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_presigned_bucket_listing(make_client: MakeClient, member: Ec2Pair, s3: BaseClient, bucket: str,
                                  signature_version: str) -> None:
    """Bucket-level presigned URLs: botocore signs SigV2 ones as `/bucket/` but sends `/bucket`."""
    s3.put_object(Bucket=bucket, Key="listed", Body=b"x")
    client = make_client(member, signature_version=signature_version)
    url = client.generate_presigned_url("list_objects", Params={"Bucket": bucket}, ExpiresIn=60)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and b"<Key>listed</Key>" in response.content
    other = client.generate_presigned_url("list_objects", Params={"Bucket": bucket + "-x"}, ExpiresIn=60)
    forged = url.replace(f"/{bucket}", f"/{bucket}-x").split("?")[0] + "?" + url.split("?")[1]
    assert other != forged
    assert requests.get(forged, timeout=10).status_code == 403


def test_expired_presigned_url(make_client: MakeClient, member: Ec2Pair, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="ps", Body=b"x")
    client = make_client(member, signature_version="s3v4")
    expired = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "ps"}, ExpiresIn=1)
    time.sleep(2.1)
    response = requests.get(expired, timeout=10)
    assert response.status_code == 403 and b"AccessDenied" in response.content


def test_last_modified_is_recent(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"")
    modified = s3.head_object(Bucket=bucket, Key="t")["LastModified"].timestamp()
    assert abs(modified - time.time()) < 60
