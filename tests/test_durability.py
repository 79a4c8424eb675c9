"""kill -9 of the server during concurrent uploads: no acknowledged write is lost, nothing partial shows.

Each writer thread overwrites a few keys again and again with bodies whose MD5 it records before sending.
After the kill and a restart on the same data dir, every key must hold exactly one of the bodies that
were sent for it, and at least the last one the server acknowledged (or a later one that was in flight).
"""

from __future__ import annotations

import hashlib
import random
import signal
import threading
import time
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import keystoneauth1.identity.v3 as v3
from keystoneauth1.session import Session

from cloud import RunningCloud, start_cloud

WRITERS = 6
KEYS_PER_WRITER = 3
SIZES = (0, 1, 4096, 70_000, 300_000, 2_500_000)


def ec2_pair(cloud: RunningCloud) -> tuple[str, str]:
    auth = v3.Password(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                       project_name="admin", user_domain_id="default", project_domain_id="default")
    session = Session(auth=auth)
    created = session.post(f"{cloud.auth_url}/users/{session.get_user_id()}/credentials/OS-EC2",
                           json={"tenant_id": session.get_project_id()}).json()["credential"]
    return created["access"], created["secret"]


def s3_client(cloud: RunningCloud, access: str, secret: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3", endpoint_url=cloud.object_url, aws_access_key_id=access, aws_secret_access_key=secret,
        region_name="us-east-1",
        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


class Ledger:
    """Per key, the MD5 of every body sent in order, and how many of them the server acknowledged.

    Keys belong to one writer each, so at most one write per key is in flight when the server dies.
    """

    def __init__(self) -> None:
        self.sent: dict[str, list[str]] = {}
        self.acknowledged: dict[str, int] = {}

    def send(self, key: str, md5: str) -> None:
        self.sent.setdefault(key, []).append(md5)

    def acknowledge(self, key: str) -> None:
        self.acknowledged[key] = len(self.sent[key])

    def allowed_after_crash(self, key: str) -> list[str]:
        """The last acknowledged body, or the one in flight after it."""
        return self.sent[key][self.acknowledged[key] - 1:]


def write_until_killed(client, bucket: str, writer: int, ledger: Ledger, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(writer)
    sequence = 0
    while not stop.is_set():
        key = f"w{writer}/k{rng.randrange(KEYS_PER_WRITER)}"
        sequence += 1
        body = f"{writer}:{sequence}:".encode() + rng.randbytes(rng.choice(SIZES))
        ledger.send(key, hashlib.md5(body).hexdigest())
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return  # the server is gone
        ledger.acknowledge(key)


def test_kill_9_during_concurrent_uploads_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cloud = start_cloud(data_dir)
    try:
        access, secret = ec2_pair(cloud)
        client = s3_client(cloud, access, secret)
        client.create_bucket(Bucket="durable")
        ledger = Ledger()
        stop = threading.Event()
        writers = [threading.Thread(target=write_until_killed, args=(client, "durable", n, ledger, stop))
                   for n in range(WRITERS)]
        for thread in writers:
            thread.start()
        time.sleep(2.5)
        # A loaded machine may ack fewer writes in that time: wait for enough of them (not for luck).
        deadline = time.monotonic() + 60
        while sum(list(ledger.acknowledged.values())) <= 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        cloud.stop(signal.SIGKILL)
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
    finally:
        cloud.stop(signal.SIGKILL)

    assert sum(ledger.acknowledged.values()) > 20, "too few writes to prove anything"
    restarted = start_cloud(data_dir)
    try:
        client = s3_client(restarted, access, secret)
        listed = {o["Key"]: o for page in client.get_paginator("list_objects_v2").paginate(Bucket="durable")
                  for o in page.get("Contents", [])}
        for key in ledger.acknowledged:
            assert key in listed, f"acknowledged write of {key} lost"
            stored = client.get_object(Bucket="durable", Key=key)["Body"].read()
            assert hashlib.md5(stored).hexdigest() in ledger.allowed_after_crash(key), \
                f"{key} holds an older or partial body"
            assert listed[key]["Size"] == len(stored)
        for key in listed.keys() - ledger.acknowledged.keys():
            # never acknowledged: only the single in-flight body may have landed, whole
            stored = client.get_object(Bucket="durable", Key=key)["Body"].read()
            assert [hashlib.md5(stored).hexdigest()] == ledger.sent[key], f"{key} holds a partial body"
        temp_dir = data_dir / "tmp"
        leftovers = [p for p in temp_dir.rglob("*") if p.is_file()] if temp_dir.exists() else []
        assert leftovers == [], f"temporary files survived recovery: {leftovers}"
    finally:
        restarted.stop()
