"""Two stackbox nodes on one PostgreSQL database and one RADOS namespace, behind HAProxy alternating
requests between them: the seed's flow across the nodes, and kill -9 of a node during uploads."""

from __future__ import annotations

import hashlib
import http.client
import json
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import swiftclient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from backends.cluster import PostgresCluster
from backends.conftest import RadosPool
from cloud import BIN, RunningCloud
from s3.configuration_rounds import write_then_read
from topology import Backends, BalancedCloud, serve_has_shared_backends, start_balanced_cloud, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.skipif(
    not serve_has_shared_backends(), reason="`stackbox serve` lacks --metadata or --blobs: nothing to share")]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory, postgres_cluster: PostgresCluster,
              rados_pool: RadosPool) -> Iterator[BalancedCloud]:
    backends = Backends(postgres_cluster, rados_pool.conf, rados_pool.name)
    cloud = start_balanced_cloud(Path(tmp_path_factory.mktemp("two-nodes")) / "data", workers=1,
                                 backends=backends, tag_responses=True)
    assert len(cloud.nodes) == 2
    yield cloud
    cloud.stop(signal.SIGTERM)


def _served_by(port: int, path: str, count: int) -> list[str]:
    """Which node answered each of `count` requests sent on one kept-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        names = []
        for _ in range(count):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            names.append(response.getheader("X-Served-By") or "")
        return names
    finally:
        connection.close()


def test_requests_alternate_between_the_nodes_even_on_one_connection(two_nodes: BalancedCloud) -> None:
    for port, path in ((two_nodes.object_port, "/healthcheck"), (two_nodes.identity_port, "/v3")):
        names = _served_by(port, path, 4)
        assert set(names) == {"node1", "node2"}, names
        assert names[0] != names[1] and names[:2] == names[2:], names


def _openstack(cloud: RunningCloud, *args: str) -> dict[str, Any]:
    done = subprocess.run([str(BIN / "openstack"), *args, "-f", "json"], env=cloud.cli_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _s3(url: str, access: str, secret: str, **config: Any) -> Any:
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, **config))


def _swift(cloud: RunningCloud, auth_url: str) -> swiftclient.Connection:
    auth = v3.Password(auth_url=auth_url, username="admin", password=cloud.admin_password,
                       project_name="admin", user_domain_id="default", project_domain_id="default")
    return swiftclient.Connection(session=ks_session.Session(auth=auth))


def test_seed_flow_across_the_nodes(two_nodes: BalancedCloud) -> None:
    node1, node2 = two_nodes.nodes
    pair = _openstack(two_nodes, "ec2", "credentials", "create")
    bucket, body = f"seed-{uuid.uuid4().hex[:8]}", b"hello from node 2\n" * 1000
    through_node2 = _s3(node2.object_url, pair["access"], pair["secret"])
    through_node2.create_bucket(Bucket=bucket)
    through_node2.put_object(Bucket=bucket, Key="hello.txt", Body=body)
    assert through_node2.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == body

    # Swift through the balancer (its catalog names the balancer, not a node) and through node 1.
    swift = _swift(two_nodes, two_nodes.auth_url)
    storage_url, _ = swift.get_auth()
    assert storage_url.startswith(f"{two_nodes.object_url}/v1/AUTH_")
    for _ in range(2):  # both nodes answer in turn
        headers, data = swift.get_object(bucket, "hello.txt")
        assert data == body and headers["etag"] == hashlib.md5(body).hexdigest()
    assert [item["name"] for item in swift.get_container(bucket)[1]] == ["hello.txt"]

    through_node1 = _s3(node1.object_url, pair["access"], pair["secret"])
    through_node1.delete_object(Bucket=bucket, Key="hello.txt")
    for client in (through_node2, through_node1):
        with pytest.raises(ClientError) as missing:
            client.get_object(Bucket=bucket, Key="hello.txt")
        assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    assert swift.get_container(bucket)[1] == []


def test_a_configuration_written_through_one_node_reads_back_through_the_other(
        two_nodes: BalancedCloud) -> None:
    node1, node2 = two_nodes.nodes
    pair = _openstack(two_nodes, "ec2", "credentials", "create")
    through_node1 = _s3(node1.object_url, pair["access"], pair["secret"])
    through_node2 = _s3(node2.object_url, pair["access"], pair["secret"])
    bucket, locked = f"config-{uuid.uuid4().hex[:8]}", f"locked-{uuid.uuid4().hex[:8]}"
    through_node1.create_bucket(Bucket=bucket)
    through_node1.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    write_then_read(through_node1, through_node2, bucket, locked, rounds=100)

    # Swift's container and account metadata, written through node 1 and read through node 2.
    storage_url, token = _swift(two_nodes, two_nodes.auth_url).get_auth()
    path = storage_url.removeprefix(two_nodes.object_url)
    swift1, swift2 = (swiftclient.Connection(preauthurl=node.object_url + path, preauthtoken=token)
                      for node in (node1, node2))
    for number in range(20):
        swift1.post_container(bucket, {"X-Container-Meta-Round": str(number)})
        assert swift2.head_container(bucket)["x-container-meta-round"] == str(number)
        swift1.post_account({"X-Account-Meta-Round": str(number)})
        assert swift2.head_account()["x-account-meta-round"] == str(number)


class Uploader:
    """Threads putting distinct objects through the balancer; `acknowledged` holds the MD5 of every
    object whose PUT was answered 200."""

    def __init__(self, client: Any, bucket: str, threads: int) -> None:
        self.client, self.bucket = client, bucket
        self.acknowledged: dict[str, str] = {}
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(number,)) for number in range(threads)]

    def __enter__(self) -> Uploader:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def _run(self, number: int) -> None:
        sequence = 0
        while not self.stop.is_set():
            key = f"t{number}/{sequence:05d}"
            sequence += 1
            body = hashlib.sha256(key.encode()).digest() * (1 + sequence % 4096)
            try:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
            except (BotoCoreError, ClientError) as error:  # in flight on the killed node: not acknowledged
                with self.lock:
                    self.failures.append(f"{key}: {error}")
                continue
            with self.lock:
                self.acknowledged[key] = hashlib.md5(body).hexdigest()


def test_kill_9_of_a_node_during_uploads_loses_no_acknowledged_object(two_nodes: BalancedCloud) -> None:
    pair = _openstack(two_nodes, "ec2", "credentials", "create")
    client = _s3(two_nodes.object_url, pair["access"], pair["secret"],
                 retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=8)
    bucket = f"kill-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    survivor, victim = two_nodes.nodes
    with Uploader(client, bucket, threads=4) as uploads:
        wait_until(lambda: uploads.count() >= 20, 120, "20 acknowledged uploads")
        victim.stop(signal.SIGKILL)
        killed_at = uploads.count()
        # The other node keeps serving: uploads go on being acknowledged through the balancer.
        wait_until(lambda: uploads.count() >= killed_at + 40, 120, "40 more uploads after the kill")
    acknowledged = dict(uploads.acknowledged)
    assert victim.process.poll() is not None

    listed: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed.update({item["Key"]: item["ETag"].strip('"') for item in page.get("Contents", [])})
    for key, md5 in acknowledged.items():
        assert listed.get(key) == md5, key
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.md5(data).hexdigest() == md5, key
    # Only acknowledged or in-flight objects are listed, each one intact.
    for key in set(listed) - set(acknowledged):
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.md5(data).hexdigest() == listed[key], key
    assert survivor.process.poll() is None
