"""The S3 and Swift front ends on the remote-catalog path: every metadata call of a worker runs on its
metadata threads (STACKBOX_METADATA_THREADS, forced on SQLite), as it will on PostgreSQL."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import swiftclient
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloud import RunningCloud, start_cloud
from stackbox.app import Cloud
from stackbox.config import Settings
from stackbox.identity.bootstrap import bootstrap


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def threaded_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(Path(tmp_path_factory.mktemp("threaded")) / "data",
                          extra_env={"STACKBOX_METADATA_THREADS": "3"})
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def admin(threaded_cloud: RunningCloud) -> ks_session.Session:
    auth = v3.Password(auth_url=threaded_cloud.auth_url, username="admin",
                       password=threaded_cloud.admin_password, project_name="admin",
                       user_domain_id="default", project_domain_id="default")
    return ks_session.Session(auth=auth)


@pytest.fixture(scope="module")
def s3(threaded_cloud: RunningCloud, admin: ks_session.Session) -> BaseClient:
    credential = admin.post(f"{threaded_cloud.auth_url}/users/{admin.get_user_id()}/credentials/OS-EC2",
                            json={"tenant_id": admin.get_project_id()}).json()["credential"]
    return boto3.client("s3", endpoint_url=threaded_cloud.object_url, region_name="us-east-1",
                        aws_access_key_id=credential["access"], aws_secret_access_key=credential["secret"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def test_the_setting_reaches_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap(Settings.from_env(data_dir=tmp_path / "data"))
    monkeypatch.setenv("STACKBOX_METADATA_THREADS", "3")
    cloud = Cloud(Settings.from_env(data_dir=tmp_path / "data"))
    try:
        assert cloud.store.engine is cloud.storage
        assert (cloud.storage.remote_catalog, cloud.storage.executor_threads) == (True, 3)
    finally:
        cloud.storage.close()
    monkeypatch.delenv("STACKBOX_METADATA_THREADS")
    default = Cloud(Settings.from_env(data_dir=tmp_path / "data"))
    try:
        assert not default.storage.remote_catalog
    finally:
        default.storage.close()


def test_an_s3_flow(s3: BaseClient) -> None:
    bucket = unique("threads")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"hello", Metadata={"colour": "blue"})
    head = s3.head_object(Bucket=bucket, Key="a.txt")
    assert (head["ContentLength"], head["Metadata"]) == (5, {"colour": "blue"})
    assert s3.get_object(Bucket=bucket, Key="a.txt", Range="bytes=1-3")["Body"].read() == b"ell"
    s3.copy_object(Bucket=bucket, Key="b.txt", CopySource={"Bucket": bucket, "Key": "a.txt"})
    s3.put_object_tagging(Bucket=bucket, Key="b.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="b.txt")["TagSet"] == [{"Key": "k", "Value": "v"}]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    parts = [{"PartNumber": number,
              "ETag": s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=number,
                                     Body=bytes([number]) * (5 << 20 if number == 1 else 10))["ETag"]}
             for number in (1, 2)]
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts})
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [(entry["Key"], entry["Size"]) for entry in listed["Contents"]] == [
        ("a.txt", 5), ("b.txt", 5), ("big", (5 << 20) + 10)]
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="absent")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as not_empty:
        s3.delete_bucket(Bucket=bucket)
    assert not_empty.value.response["Error"]["Code"] == "BucketNotEmpty"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in ("a.txt", "b.txt", "big")]})
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket=bucket)
    assert gone.value.response["Error"]["Code"] == "404"


def test_a_swift_flow(admin: ks_session.Session) -> None:
    conn = swiftclient.Connection(session=admin, retries=0)
    container = unique("threads")
    conn.put_container(container, headers={"X-Container-Meta-Colour": "blue"})
    conn.put_object(container, "a.txt", b"hello", headers={"X-Object-Meta-Size": "small"})
    headers, body = conn.get_object(container, "a.txt")
    assert (body, headers["x-object-meta-size"]) == (b"hello", "small")
    conn.post_object(container, "a.txt", headers={"X-Object-Meta-Size": "tiny"})
    assert conn.head_object(container, "a.txt")["x-object-meta-size"] == "tiny"
    conn.copy_object(container, "a.txt", f"/{container}/b.txt")
    conn.put_object(container, "dir/c.txt", b"nested")
    _, listed = conn.get_container(container, delimiter="/")
    assert [entry.get("name", entry.get("subdir")) for entry in listed] == ["a.txt", "b.txt", "dir/"]
    assert conn.head_container(container)["x-container-meta-colour"] == "blue"
    with pytest.raises(swiftclient.ClientException) as missing:
        conn.get_object(container, "absent")
    assert missing.value.http_status == 404
    with pytest.raises(swiftclient.ClientException) as not_empty:
        conn.delete_container(container)
    assert not_empty.value.http_status == 409
    for name in ("a.txt", "b.txt", "dir/c.txt"):
        conn.delete_object(container, name)
    conn.delete_container(container)
    assert container not in [entry["name"] for entry in conn.get_account()[1]]
