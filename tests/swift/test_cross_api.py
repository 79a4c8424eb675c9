"""One store, two APIs: what S3 writes reads the same through Swift, and back."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest
import swiftclient
from botocore.config import Config
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session

from cloud import RunningCloud
from swift.helpers import unique


@pytest.fixture(scope="module")
def s3(cloud: RunningCloud, admin_session: ks_session.Session) -> Any:
    """boto3 on an EC2 pair of admin on the admin project; skips while the S3 API is not there."""
    user_id = admin_session.get_user_id()
    created = admin_session.post(f"{cloud.auth_url}/users/{user_id}/credentials/OS-EC2",
                                 json={"tenant_id": admin_session.get_project_id()}).json()["credential"]
    client = boto3.client("s3", endpoint_url=cloud.object_url, region_name="us-east-1",
                          aws_access_key_id=created["access"], aws_secret_access_key=created["secret"],
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0}))
    try:
        client.list_buckets()
    except ClientError as error:
        pytest.skip(f"S3 API not available yet: {error.response['Error'].get('Code')}")
    return client


def test_s3_object_reads_through_swift(s3: Any, conn: swiftclient.Connection) -> None:
    bucket = unique("x")
    s3.create_bucket(Bucket=bucket)
    put = s3.put_object(Bucket=bucket, Key="k.txt", Body=b"from s3", ContentType="text/plain",
                        Metadata={"foo": "bar"})
    headers, body = conn.get_object(bucket, "k.txt")
    assert body == b"from s3"
    assert headers["etag"] == put["ETag"].strip('"') == hashlib.md5(b"from s3").hexdigest()
    assert headers["content-type"] == "text/plain"
    assert headers["x-object-meta-foo"] == "bar"


def test_swift_object_reads_through_s3(s3: Any, conn: swiftclient.Connection) -> None:
    name = unique("x")
    conn.put_container(name)
    etag = conn.put_object(name, "k", b"from swift", content_type="text/x-swift",
                           headers={"X-Object-Meta-Foo": "baz"})
    got = s3.get_object(Bucket=name, Key="k")
    assert got["Body"].read() == b"from swift"
    assert got["ETag"] == f'"{etag}"'
    assert got["ContentType"] == "text/x-swift"
    assert got["Metadata"] == {"foo": "baz"}


def test_multipart_upload_is_a_large_object_in_swift(s3: Any, conn: swiftclient.Connection) -> None:
    bucket = unique("x")
    s3.create_bucket(Bucket=bucket)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu")
    parts = [b"a" * (5 << 20), b"b" * 10]
    etags = [s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload["UploadId"], PartNumber=n + 1,
                            Body=data)["ETag"] for n, data in enumerate(parts)]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mpu", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n + 1} for n, e in enumerate(etags)]})
    headers = conn.head_object(bucket, "mpu")
    assert headers["x-static-large-object"] == "True"
    assert headers["etag"] == done["ETag"]
    assert int(headers["content-length"]) == sum(map(len, parts))
    assert conn.get_object(bucket, "mpu", headers={"Range": f"bytes={(5 << 20) - 2}-{(5 << 20) + 1}"}
                           )[1] == b"aabb"
    assert conn.get_object(bucket, "mpu", headers={"Range": "bytes=-12"})[1] == b"aa" + b"b" * 10
    _, manifest = conn.get_object(bucket, "mpu", query_string="multipart-manifest=get")
    segments = json.loads(manifest)
    assert [(s["bytes"], s["hash"]) for s in segments] == [
        (len(data), etag.strip('"')) for data, etag in zip(parts, etags, strict=True)]
    part, body = conn.get_object(bucket, "mpu", query_string="part-number=2")
    assert (body, part["x-parts-count"], part["content-range"]) == (
        b"b" * 10, "2", f"bytes {5 << 20}-{(5 << 20) + 9}/{(5 << 20) + 10}")
    with pytest.raises(swiftclient.ClientException) as beyond:
        conn.head_object(bucket, "mpu", query_string="part-number=3")
    assert beyond.value.http_status == 416
    assert all(s["name"].startswith(f"/{bucket}+segments/mpu/") for s in segments)


def test_slo_reads_through_s3(s3: Any, conn: swiftclient.Connection) -> None:
    name = unique("x")
    conn.put_container(name)
    conn.put_object(name, "s/1", b"one-")
    conn.put_object(name, "s/2", b"two")
    manifest = json.dumps([{"path": f"/{name}/s/1"}, {"path": f"/{name}/s/2"}])
    conn.put_object(name, "slo", manifest, query_string="multipart-manifest=put")
    assert s3.get_object(Bucket=name, Key="slo")["Body"].read() == b"one-two"


def test_swift_cannot_undo_an_s3_object_lock(s3: Any, conn: swiftclient.Connection) -> None:
    """A version held by S3 Object Lock is not deleted through Swift, nor the bucket's versioning suspended:
    both answer 409 with Swift's body, the version stays readable, and a plain DELETE adds a marker only."""
    bucket = unique("lock")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"kept", ObjectLockLegalHoldStatus="ON")["VersionId"]

    with pytest.raises(swiftclient.ClientException) as refused:
        conn.delete_object(bucket, "k", query_string=f"version-id={version}")
    assert refused.value.http_status == 409
    assert "row" not in (refused.value.http_response_content or b"").decode()
    with pytest.raises(swiftclient.ClientException) as suspend:
        conn.post_container(bucket, {"X-Versions-Enabled": "false"})
    assert suspend.value.http_status == 409

    conn.delete_object(bucket, "k")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=version)["Body"].read() == b"kept"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
