"""`stackbox serve --metadata postgresql://...`: real clients (boto3, python-swiftclient) on a server whose
storage catalog is in PostgreSQL, and the catalog is where it should be (the database, not the data dir)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest
import swiftclient
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloud import RunningCloud, start_cloud


class Served:
    def __init__(self, cloud: RunningCloud, url: str, data_dir: Path) -> None:
        self.cloud = cloud
        self.url = url
        self.data_dir = data_dir
        auth = v3.Password(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                           project_name="admin", user_domain_id="default", project_domain_id="default")
        self.session = ks_session.Session(auth=auth)
        self.project_id = self.session.get_project_id()

    def s3(self) -> BaseClient:
        user_id = self.session.get_user_id()
        pair = self.session.post(f"{self.cloud.auth_url}/users/{user_id}/credentials/OS-EC2",
                                 json={"tenant_id": self.project_id}).json()["credential"]
        return boto3.client("s3", endpoint_url=self.cloud.object_url, region_name="us-east-1",
                            aws_access_key_id=pair["access"], aws_secret_access_key=pair["secret"])

    def swift(self) -> swiftclient.Connection:
        return swiftclient.Connection(session=self.session, retries=0)

    def catalog_rows(self, sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql).fetchall())


@pytest.fixture
def served(postgres_url: str, tmp_path: Path) -> Iterator[Served]:
    data_dir = tmp_path / "data"
    cloud = start_cloud(data_dir, extra_args=["--metadata", postgres_url])
    yield Served(cloud, postgres_url, data_dir)
    cloud.stop()


def test_s3_and_swift_share_a_postgresql_catalog(served: Served) -> None:
    s3, swift = served.s3(), served.swift()
    bucket = f"pg-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    bodies = {f"dir/{index}": os.urandom(100 + index * 70_000) for index in range(4)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", MaxKeys=2)
    assert [entry["Key"] for entry in listed["Contents"]] == ["dir/0", "dir/1"] and listed["IsTruncated"]
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    headers, objects = swift.get_container(bucket)
    assert int(headers["x-container-object-count"]) == len(bodies)
    assert {entry["name"]: entry["hash"] for entry in objects} == \
        {key: hashlib.md5(body).hexdigest() for key, body in bodies.items()}

    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="v", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="v", Body=b"two")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="v")
    versions = s3.list_object_versions(Bucket=bucket, Prefix="v")
    assert [entry["VersionId"] for entry in versions["Versions"]] == [second, first]
    assert len(versions["DeleteMarkers"]) == 1
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="v")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=first)["Body"].read() == b"one"

    stored = served.catalog_rows(f"SELECT count(*) FROM object o JOIN container c ON c.id = o.container_id "
                                 f"WHERE c.name = '{bucket}'")
    assert stored == [(len(bodies) + 3,)]  # and two versions and a delete marker of "v"
    assert not (served.data_dir / "meta.db").exists()


def test_a_precondition_and_a_quota_hold_on_postgresql(served: Served) -> None:
    swift = served.swift()
    swift.put_container("limited", headers={"X-Container-Meta-Quota-Count": "2"})
    swift.put_object("limited", "a", b"1")
    swift.put_object("limited", "b", b"2")
    with pytest.raises(swiftclient.ClientException) as refused:
        swift.put_object("limited", "c", b"3")
    assert refused.value.http_status == 413
    with pytest.raises(swiftclient.ClientException) as exists:
        swift.put_object("limited", "a", b"again", headers={"If-None-Match": "*"})
    assert exists.value.http_status == 412
    assert [entry["name"] for entry in swift.get_container("limited")[1]] == ["a", "b"]
