"""Ceph's own gateway on the one-node test cluster (`RadosGateway`, the scale-out benchmark's peer):
it serves S3 to its user, refuses a wrong key, fails to start with its log when it cannot serve, and
is gone after `stop`."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from backends.cluster import CephCluster, RadosGateway


@pytest.fixture(scope="module")
def radosgw(ceph_cluster: CephCluster) -> Iterator[RadosGateway]:
    gateway = RadosGateway.start(ceph_cluster)
    try:
        yield gateway
    finally:
        gateway.stop()


def s3_client(gateway: RadosGateway, secret: str | None = None) -> Any:
    return boto3.client("s3", endpoint_url=gateway.endpoint, region_name="us-east-1",
                        aws_access_key_id=gateway.access_key,
                        aws_secret_access_key=secret or gateway.secret_key)


def test_its_user_stores_and_reads_objects(radosgw: RadosGateway) -> None:
    s3 = s3_client(radosgw)
    s3.create_bucket(Bucket="gateway-roundtrip")
    body = bytes(range(256)) * 64
    s3.put_object(Bucket="gateway-roundtrip", Key="dir/obj", Body=body)
    got = s3.get_object(Bucket="gateway-roundtrip", Key="dir/obj")
    assert got["Body"].read() == body
    listed = s3.list_objects_v2(Bucket="gateway-roundtrip")
    assert [item["Key"] for item in listed["Contents"]] == ["dir/obj"]


def test_a_wrong_secret_is_refused(radosgw: RadosGateway) -> None:
    s3 = s3_client(radosgw, secret="not-" + radosgw.secret_key)
    with pytest.raises(ClientError) as refused:
        s3.list_buckets()
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_a_gateway_that_cannot_listen_fails_with_its_log(ceph_cluster: CephCluster,
                                                         radosgw: RadosGateway) -> None:
    taken = f"beast endpoint=127.0.0.1:{radosgw.port}"  # the running gateway holds that port
    # radosgw exits with EADDRINUSE; its log thread does not always flush the message before that.
    failure = (r"(?s)radosgw did not start: "
               rf"radosgw exited (with {errno.EADDRINUSE}\b|.*Address already in use)")
    with pytest.raises(RuntimeError, match=failure):
        RadosGateway.start(ceph_cluster, {"rgw_frontends": taken})
    assert radosgw_answers(radosgw), "the failed start stopped only its own daemon"


def test_stop_ends_the_daemon(ceph_cluster: CephCluster) -> None:
    gateway = RadosGateway.start(ceph_cluster)
    assert radosgw_answers(gateway)
    gateway.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", gateway.port), timeout=5):
        pass


def radosgw_answers(gateway: RadosGateway) -> bool:
    return gateway._answers()
