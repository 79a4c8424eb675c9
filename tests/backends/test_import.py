"""`stackbox import --from DATA_DIR`: an embedded data dir made by a real server (users, an EC2 pair, S3
and Swift objects: multipart, versions, SSE-S3, metadata, an SLO) copied into PostgreSQL + RADOS; a node
started there serves every object byte for byte to the same EC2 pair and password. A second import
copies nothing; one killed -9 mid-way resumes to the same result; refusals are one line."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import swiftclient
from botocore.client import BaseClient

from backends.cluster import PostgresCluster
from backends.conftest import RadosPool
from cloud import BIN, RunningCloud, launch_node
from identity.helpers import password_session
from stackbox.maintenance import maintenance_running
from topology import cluster_key_file

pytestmark = pytest.mark.cluster
psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed (`make test` installs it)")

MiB = 1 << 20
PASSWORD = "import-test-Passw0rd"


@dataclass
class Source:
    """A stopped embedded data dir and what it holds."""

    data_dir: Path
    admin_password: str
    user: str
    access: str
    secret: str
    s3_objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    versions: dict[str, bytes] = field(default_factory=dict)  # version id -> body (bucket "versioned")
    swift_objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    #: A multipart upload left open: (upload id, its one part's ETag, that part's body).
    pending: tuple[str, str, bytes] = ("", "", b"")


def s3_client(cloud: RunningCloud, access: str, secret: str) -> BaseClient:
    return boto3.client("s3", endpoint_url=cloud.object_url, region_name="us-east-1",
                        aws_access_key_id=access, aws_secret_access_key=secret)


def fill(cloud: RunningCloud, data_dir: Path) -> Source:
    admin = password_session(cloud, "admin", cloud.admin_password)
    project_id = admin.get_project_id()
    user = f"importer-{uuid.uuid4().hex[:6]}"
    user_id = admin.post(f"{cloud.auth_url}/users", json={"user": {
        "name": user, "password": PASSWORD, "domain_id": "default"}}).json()["user"]["id"]
    roles = admin.get(f"{cloud.auth_url}/roles?name=member").json()["roles"]
    admin.put(f"{cloud.auth_url}/projects/{project_id}/users/{user_id}/roles/{roles[0]['id']}")
    pair = admin.post(f"{cloud.auth_url}/users/{user_id}/credentials/OS-EC2",
                      json={"tenant_id": project_id}).json()["credential"]
    source = Source(data_dir, cloud.admin_password, user, pair["access"], pair["secret"])
    s3 = s3_client(cloud, source.access, source.secret)
    s3.create_bucket(Bucket="plain")
    for key, body in (("small", b"small body"), ("big", os.urandom(3 * MiB + 5))):
        s3.put_object(Bucket="plain", Key=key, Body=body, Metadata={"colour": "blue"})
        source.s3_objects["plain", key] = body
    secret_body = os.urandom(MiB + 11)
    s3.put_object(Bucket="plain", Key="sealed", Body=secret_body, ServerSideEncryption="AES256")
    source.s3_objects["plain", "sealed"] = secret_body
    parts = [os.urandom(5 * MiB), os.urandom(MiB // 2)]
    upload = s3.create_multipart_upload(Bucket="plain", Key="multi")["UploadId"]
    done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="plain", Key="multi", UploadId=upload,
                                                     PartNumber=n, Body=part)["ETag"]}
            for n, part in enumerate(parts, start=1)]
    s3.complete_multipart_upload(Bucket="plain", Key="multi", UploadId=upload,
                                 MultipartUpload={"Parts": done})
    source.s3_objects["plain", "multi"] = b"".join(parts)
    pending = s3.create_multipart_upload(Bucket="plain", Key="pending")["UploadId"]
    etag = s3.upload_part(Bucket="plain", Key="pending", UploadId=pending, PartNumber=1,
                          Body=parts[1])["ETag"]
    source.pending = (pending, etag, parts[1])
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    for body in (os.urandom(200_000), os.urandom(300_000)):
        source.versions[s3.put_object(Bucket="versioned", Key="doc", Body=body)["VersionId"]] = body
    swift = swiftclient.Connection(session=password_session(cloud, user, PASSWORD), retries=0)
    swift.put_container("segments")
    segments = [os.urandom(MiB + 1), os.urandom(1000)]
    manifest = []
    for number, segment in enumerate(segments):
        etag = swift.put_object("segments", f"seg{number}", segment)
        manifest.append({"path": f"segments/seg{number}", "etag": etag, "size_bytes": len(segment)})
    swift.put_container("docs")
    swift.put_object("docs", "slo", json.dumps(manifest), query_string="multipart-manifest=put")
    source.swift_objects["docs", "slo"] = b"".join(segments)
    swift.put_object("docs", "note", b"swift note", headers={"X-Object-Meta-Owner": "alice"})
    source.swift_objects["docs", "note"] = b"swift note"
    return source


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    data_dir = tmp_path_factory.mktemp("embedded") / "data"
    cloud = launch_node(data_dir)
    try:
        filled = fill(cloud, data_dir)
    finally:
        cloud.stop(signal.SIGTERM)
    return filled


@dataclass
class Target:
    root: Path
    dsn: str
    blobs: str

    @property
    def key_file(self) -> Path:
        return cluster_key_file(self.root / "nodes")

    def run_import(self, source: Path) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STACKBOX_")}
        env["STACKBOX_CLUSTER_KEY_FILE"] = str(self.key_file)
        return subprocess.Popen(
            [str(BIN / "stackbox"), "import", "--from", str(source), "--data-dir", str(self.root / "node"),
             "--metadata", self.dsn, "--blobs", self.blobs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def imported(self, source: Path) -> str:
        process = self.run_import(source)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        progress = err.splitlines()[-1]  # stderr is no terminal: plain lines, the last one complete
        done, _, total = progress.split("] ")[1].split(" blobs")[0].partition("/")
        assert done == total and int(total) > 0, err
        return out

    def start_node(self) -> RunningCloud:
        return launch_node(self.root / "node", extra_args=["--metadata", self.dsn, "--blobs", self.blobs],
                           extra_env={"STACKBOX_CLUSTER_KEY_FILE": str(self.key_file)})


def new_target(postgres_cluster: PostgresCluster, rados_pool: RadosPool, root: Path) -> Target:
    name = f"import_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    dsn = postgres_cluster.dsn.rsplit("/", 1)[0] + f"/{name}"
    blobs = f"rados://{rados_pool.name}?conf={rados_pool.conf}&namespace={rados_pool.namespace()}"
    root.mkdir(parents=True, exist_ok=True)
    return Target(root, dsn, blobs)


@pytest.fixture
def target(postgres_cluster: PostgresCluster, rados_pool: RadosPool, tmp_path: Path) -> Target:
    return new_target(postgres_cluster, rados_pool, tmp_path)


def check_served(target: Target, source: Source) -> None:
    node = target.start_node()
    try:
        s3 = s3_client(node, source.access, source.secret)
        for (bucket, key), body in source.s3_objects.items():
            got = s3.get_object(Bucket=bucket, Key=key)
            assert hashlib.md5(got["Body"].read()).digest() == hashlib.md5(body).digest(), key
        assert s3.head_object(Bucket="plain", Key="big")["Metadata"] == {"colour": "blue"}
        assert s3.head_object(Bucket="plain", Key="sealed")["ServerSideEncryption"] == "AES256"
        listed = s3.list_object_versions(Bucket="versioned")["Versions"]
        assert {version["VersionId"] for version in listed} == set(source.versions)
        for version_id, body in source.versions.items():
            assert s3.get_object(Bucket="versioned", Key="doc", VersionId=version_id)["Body"].read() == body
        swift = swiftclient.Connection(session=password_session(node, source.user, PASSWORD), retries=0)
        for (container, name), body in source.swift_objects.items():
            _, got = swift.get_object(container, name)
            assert got == body, name
        assert swift.head_object("docs", "note")["x-object-meta-owner"] == "alice"
        upload_id, etag, body = source.pending  # an upload begun before the import completes after it
        s3.complete_multipart_upload(Bucket="plain", Key="pending", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert s3.get_object(Bucket="plain", Key="pending")["Body"].read() == body
        # New writes after the import get fresh ids (the sequences follow the copied rows).
        s3.put_object(Bucket="plain", Key="after", Body=b"after import")
        s3.create_bucket(Bucket="newer")
        assert s3.get_object(Bucket="plain", Key="after")["Body"].read() == b"after import"
    finally:
        node.stop(signal.SIGTERM)


def test_import_serves_every_object_and_a_second_import_copies_nothing(source: Source, target: Target
                                                                        ) -> None:
    first = counts(target.imported(source.data_dir))
    assert set(first) == {"blobs", "kms keys", "identity rows", "catalog rows"}
    assert all(copied > 0 and present == 0 for copied, present in first.values()), first
    again = counts(target.imported(source.data_dir))
    assert again == {name: (0, copied) for name, (copied, _) in first.items()}
    check_served(target, source)


def test_an_import_killed_mid_way_resumes_to_the_same_result(source: Source, target: Target,
                                                            tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(source.data_dir), str(copy)], check=True)
    meta = sqlite3.connect(copy / "meta.db")
    last, total = meta.execute("SELECT max(id), count(*) FROM blob WHERE refs > 0").fetchone()
    meta.close()  # open, it would make the import refuse: the data dir looks in use
    path = copy / "blobs" / last[:2] / last[2:4] / last
    held = path.with_name("held")
    path.rename(held)
    os.mkfifo(path)  # the import blocks opening it: every blob before it is copied, the rows are not
    process = target.run_import(copy)
    try:
        wait_for_rows(target.dsn, "import_blob", total - 1, process)
        with psycopg.connect(target.dsn) as conn:  # nothing of the catalog is visible yet
            assert conn.execute("SELECT count(*) FROM object").fetchone()[0] == 0
    finally:
        process.kill()
        process.communicate()
    path.unlink()
    held.rename(path)
    resumed = target.imported(copy)
    assert f"blobs: 1 copied, {total - 1} already present" in resumed
    check_served(target, source)


def test_refusals_are_one_line(source: Source, target: Target, postgres_cluster: PostgresCluster,
                               rados_pool: RadosPool, tmp_path: Path) -> None:
    not_a_data_dir = tmp_path / "empty"
    not_a_data_dir.mkdir()
    process = target.run_import(not_a_data_dir)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1 and err.count("\n") == 1 and "not a stackbox data dir" in err
    # A database a node already serves from holds another admin: refused, nothing copied into it.
    node = target.start_node()
    node.stop(signal.SIGTERM)
    process = target.run_import(source.data_dir)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and err.strip().count("\n") == 0, err
    assert "already holds other users" in err
    with psycopg.connect(target.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM container").fetchone()[0] == 0


@pytest.mark.parametrize("maintenance_interval", ["1", "3600"])
def test_a_running_server_on_the_data_dir_is_refused(target: Target, tmp_path: Path,
                                                     maintenance_interval: str) -> None:
    """Whether its housekeeping holds the maintenance lock yet or not (it takes it after an interval),
    a server has the data dir's databases open."""
    cloud = launch_node(tmp_path / "live", extra_env={"STACKBOX_MAINTENANCE_INTERVAL": maintenance_interval})
    try:
        if maintenance_interval == "1":
            wait_for(lambda: maintenance_running(cloud.data_dir), "the maintenance lock is held")
        process = target.run_import(cloud.data_dir)
        _, err = process.communicate(timeout=60)
    finally:
        cloud.stop(signal.SIGTERM)
    assert process.returncode == 1 and "a stackbox server is running" in err, err
    assert err.strip().count("\n") == 0, err


def counts(output: str) -> dict[str, tuple[int, int]]:
    """`blobs: 3 copied, 0 already present` lines -> {"blobs": (3, 0)}."""
    found = {}
    for line in output.splitlines():
        name, _, rest = line.partition(": ")
        copied, _, present = rest.partition(" copied, ")
        found[name] = (int(copied), int(present.split()[0]))
    return found


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not the case after {timeout} s: {what}"
        time.sleep(0.1)


def wait_for_rows(dsn: str, table: str, count: int, process: subprocess.Popen[str]) -> None:
    def enough() -> bool:
        assert process.poll() is None, process.communicate()
        with psycopg.connect(dsn) as conn:
            try:
                return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) >= count
            except psycopg.errors.UndefinedTable:
                return False

    wait_for(enough, f"{count} rows in {table}")
