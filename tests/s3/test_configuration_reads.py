"""A read of a bucket's configuration shows the write answered just before (in a cluster topology
the two requests go to different nodes: read-your-writes however fresh each node's cache is)."""

from __future__ import annotations

from botocore.client import BaseClient

from s3.configuration_rounds import write_then_read
from s3.conftest import unique


def test_each_configuration_read_shows_the_write_before(s3: BaseClient, bucket: str) -> None:
    locked = unique("locked")
    s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    write_then_read(s3, s3, bucket, locked, rounds=20)
