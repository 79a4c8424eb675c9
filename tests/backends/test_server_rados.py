"""stackbox served with `--blobs rados://...`: real clients (boto3, python-swiftclient) on a server
whose object data is in a RADOS pool, and what the pool holds after uploads that fail or objects that
are deleted."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
import swiftclient
from botocore.client import BaseClient
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from backends.conftest import RadosPool
from cloud import RunningCloud, start_cloud
from stackbox.storage.engine import EMBEDDED, Engine
from stackbox.storage.rados_blobs import RadosBlobs, parse_stripe_name

pytestmark = pytest.mark.cluster

LAYOUT_OBJECT = "stackbox.blob-layout"
MiB = 1 << 20


class Served:
    def __init__(self, cloud: RunningCloud, url: str, pool: RadosPool, namespace: str) -> None:
        self.cloud = cloud
        self.url = url
        auth = v3.Password(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                           project_name="admin", user_domain_id="default", project_domain_id="default")
        self.session = ks_session.Session(auth=auth)
        self.project_id = self.session.get_project_id()
        self.pool = RadosBlobs.connect(pool.name, str(pool.conf), namespace=namespace)

    def objects(self) -> set[str]:
        return {entry.key for entry in self.pool.ioctx.list_objects()} - {LAYOUT_OBJECT}

    def s3(self) -> BaseClient:
        user_id = self.session.get_user_id()
        pair = self.session.post(f"{self.cloud.auth_url}/users/{user_id}/credentials/OS-EC2",
                                 json={"tenant_id": self.project_id}).json()["credential"]
        return boto3.client("s3", endpoint_url=self.cloud.object_url, region_name="us-east-1",
                            aws_access_key_id=pair["access"], aws_secret_access_key=pair["secret"])

    def swift(self) -> swiftclient.Connection:
        return swiftclient.Connection(session=self.session, retries=0)


@pytest.fixture(scope="module")
def served(rados_pool: RadosPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    namespace = rados_pool.namespace()
    url = f"rados://{rados_pool.name}?conf={rados_pool.conf}&namespace={namespace}"
    cloud = start_cloud(Path(tmp_path_factory.mktemp("rados-cloud")) / "data", extra_args=["--blobs", url])
    running = Served(cloud, url, rados_pool, namespace)
    yield running
    running.pool.close()
    cloud.stop()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not the case after {timeout} s: {what}"
        time.sleep(0.1)


def blob_ids(names: set[str]) -> set[str]:
    return {parsed[0] for name in names if (parsed := parse_stripe_name(name)) is not None}


def test_boto3_multipart_ranges_and_sse_s3(served: Served) -> None:
    s3 = served.s3()
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    before = served.objects()

    small, large = os.urandom(4096), os.urandom(9 * MiB + 123)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    assert served.objects() == before, "a 4 KiB object is stored inline in the catalog"
    s3.put_object(Bucket=bucket, Key="large", Body=large)
    assert len(served.objects() - before) == 3, "9 MiB in 4 MiB stripes"
    got = s3.get_object(Bucket=bucket, Key="large", Range=f"bytes={4 * MiB - 5}-{8 * MiB + 5}")
    assert got["Body"].read() == large[4 * MiB - 5:8 * MiB + 6]
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small

    parts = [os.urandom(5 * MiB + 1), os.urandom(MiB)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    done = [{"PartNumber": number, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload,
                                                         PartNumber=number, Body=body)["ETag"]}
            for number, body in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == whole
    ranged = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 10}")
    assert ranged["Body"].read() == whole[5 * MiB - 10:5 * MiB + 11]

    secret = os.urandom(6 * MiB + 7)
    s3.put_object(Bucket=bucket, Key="sealed", Body=secret, ServerSideEncryption="AES256")
    head = s3.head_object(Bucket=bucket, Key="sealed")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == len(secret)
    assert s3.get_object(Bucket=bucket, Key="sealed")["Body"].read() == secret
    ranged = s3.get_object(Bucket=bucket, Key="sealed", Range=f"bytes={4 * MiB - 100}-{4 * MiB + 100}")
    assert ranged["Body"].read() == secret[4 * MiB - 100:4 * MiB + 101]
    stored = b"".join(chunk for blob_id in blob_ids(served.objects() - before)
                      for chunk in served.pool.read(blob_id, 0, served.pool.size(blob_id)))
    assert secret[:4096] not in stored, "SSE-S3 data is stored encrypted"

    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "large"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == large


def test_swiftclient_round_trip(served: Served) -> None:
    swift = served.swift()
    container = f"c-{uuid.uuid4().hex[:10]}"
    swift.put_container(container)
    data = os.urandom(5 * MiB + 3)
    etag = swift.put_object(container, "obj", data)
    assert etag == hashlib.md5(data).hexdigest()
    _, body = swift.get_object(container, "obj", headers={"Range": "bytes=4194300-4194310"})
    assert body == data[4194300:4194311]
    assert swift.get_object(container, "obj")[1] == data
    swift.delete_object(container, "obj")
    with pytest.raises(swiftclient.ClientException):
        swift.get_object(container, "obj")


def test_an_interrupted_upload_leaves_nothing_in_the_pool(served: Served) -> None:
    swift = served.swift()
    container = f"c-{uuid.uuid4().hex[:10]}"
    swift.put_container(container)
    before = served.objects()
    token = served.session.get_token()
    path = f"/v1/AUTH_{served.project_id}/{container}/cut"
    with socket.create_connection(("127.0.0.1", served.cloud.object_port)) as connection:
        connection.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n"
                           f"Content-Length: {40 * MiB}\r\n\r\n".encode())
        for _ in range(13):
            connection.sendall(os.urandom(MiB))
        # Wait until the server has sent stripes of it to RADOS, then hang up mid-body.
        wait_until(lambda: len(served.objects() - before) >= 2, "stripes of the upload stored")
    wait_until(lambda: served.objects() == before, "the interrupted upload's stripes removed")
    with pytest.raises(swiftclient.ClientException):
        swift.get_object(container, "cut")


def test_a_deleted_objects_stripes_are_removed_by_garbage_collection(served: Served) -> None:
    s3 = served.s3()
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    before = served.objects()
    s3.put_object(Bucket=bucket, Key="doomed", Body=os.urandom(10 * MiB))
    stripes = served.objects() - before
    assert len(stripes) == 3
    s3.delete_object(Bucket=bucket, Key="doomed")
    assert stripes <= served.objects(), "kept for the grace period (reads in progress finish)"
    # Another engine on the same catalog and pool (as another worker would) collects it at once.
    collector = Engine(served.cloud.data_dir, blobs_url=served.url,
                       metadata=served.cloud.operator_env.get("STACKBOX_METADATA", EMBEDDED))
    try:
        def collected() -> bool:
            collector.collect_garbage(grace=0)
            return served.objects().isdisjoint(stripes)

        wait_until(collected, "the deleted object's stripes removed")
    finally:
        collector.close()
