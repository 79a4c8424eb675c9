"""MinIO's Python SDK (the protocol logic of MinIO's Go SDK and `mc`) as a real client of stackbox."""

from __future__ import annotations

import base64
import io
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests
from awscrt.checksums import crc32c
from botocore.client import BaseClient
from minio import Minio
from minio.commonconfig import CopySource
from minio.datatypes import PostPolicy
from minio.error import S3Error

from cloud import RunningCloud
from s3.conftest import MakeClient, MakePair, unique
from swift.conftest import User, admin_session, make_user, user_swift  # noqa: F401
from swift.helpers import Swift

MIB = 1 << 20
#: 2,500 keys; most sort below base64 text, as the continuation tokens MinIO's SDK also sends as
#: start-after (the keys a listing lost before).
TOP = [f"{i:04d}" for i in range(1200)]
IN_DIR = [f"dir/{i:04d}" for i in range(1000)]
IN_LOGS = [f"logs/{i:03d}" for i in range(300)]


@pytest.fixture(scope="module")
def owner(make_user: Callable[..., User]) -> User:  # noqa: F811 (the imported fixture)
    return make_user("member")


@pytest.fixture(scope="module")
def s3_of_owner(cloud: RunningCloud, make_client: MakeClient, make_pair: MakePair,
                owner: User) -> tuple[Minio, BaseClient]:
    """MinIO's and boto3's clients on one EC2 pair of `owner`'s project."""
    pair = make_pair("member", project_id=owner.project_id)
    return Minio(cloud.object_url.removeprefix("http://"), access_key=pair.access, secret_key=pair.secret,
                 secure=False, region="us-east-1"), make_client(pair)


@pytest.fixture
def minio(s3_of_owner: tuple[Minio, BaseClient]) -> Minio:
    return s3_of_owner[0]


@pytest.fixture
def boto(s3_of_owner: tuple[Minio, BaseClient]) -> BaseClient:
    return s3_of_owner[1]


@pytest.fixture
def bucket(minio: Minio) -> str:
    name = unique("minio")
    minio.make_bucket(name)
    return name


@pytest.fixture(scope="module")
def big_bucket(s3_of_owner: tuple[Minio, BaseClient], owner: User,
               user_swift: Callable[[User, str | None], Swift]) -> str:  # noqa: F811
    """A bucket of 2,500 empty objects, written in one Swift extract-archive request."""
    name = unique("big")
    s3_of_owner[0].make_bucket(name)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for key in TOP + IN_DIR + IN_LOGS:
            tar.addfile(tarfile.TarInfo(key), io.BytesIO(b""))
    swift = user_swift(owner, None)
    response = swift("PUT", f"/{name}?extract-archive=tar", data=archive.getvalue(),
                     headers={"Accept": "application/json"})
    assert response.status_code == 200 and '"Number Files Created": 2500' in response.text, response.text
    return name


def test_bucket_and_object_round_trip(minio: Minio) -> None:
    name = unique("minio")
    minio.make_bucket(name)
    assert minio.bucket_exists(name) and name in [found.name for found in minio.list_buckets()]
    written = minio.put_object(name, "dir/hello world+.txt", io.BytesIO(b"hello"), 5, content_type="text/x",
                               metadata={"colour": "blue"})
    stat = minio.stat_object(name, "dir/hello world+.txt")
    assert (stat.size, stat.etag, stat.content_type) == (5, written.etag, "text/x")
    assert stat.metadata["x-amz-meta-colour"] == "blue"
    response = minio.get_object(name, "dir/hello world+.txt", offset=1, length=3)
    try:
        assert response.read() == b"ell"
    finally:
        response.close()
        response.release_conn()
    listed = [found.object_name for found in minio.list_objects(name, recursive=True)]
    assert listed == ["dir/hello world+.txt"]
    minio.remove_object(name, "dir/hello world+.txt")
    with pytest.raises(S3Error) as excinfo:
        minio.stat_object(name, "dir/hello world+.txt")
    assert excinfo.value.code == "NoSuchKey"
    minio.remove_bucket(name)
    assert not minio.bucket_exists(name)


@pytest.mark.parametrize("use_api_v1", [False, True])
def test_lists_past_1000_objects(minio: Minio, big_bucket: str, use_api_v1: bool) -> None:
    def names(**options: object) -> list[str]:
        listed = minio.list_objects(big_bucket, use_api_v1=use_api_v1, **options)  # type: ignore[arg-type]
        return [found.object_name or "" for found in listed]

    everything = sorted(TOP + IN_DIR + IN_LOGS)
    assert names(recursive=True) == everything
    assert names(recursive=False) == [*TOP, "dir/", "logs/"]
    assert names(prefix="dir/", recursive=True) == IN_DIR
    assert names(prefix="dir/", recursive=False) == IN_DIR
    assert names(prefix="0", recursive=False) == TOP[:1000]
    assert names(recursive=True, start_after="0999") == everything[1000:]


def test_multipart_with_a_checksum(minio: Minio, boto: BaseClient, bucket: str) -> None:
    """The SDK computes no checksums; the algorithm header asks stackbox for CRC32C part checksums,
    and the object's checksum is COMPOSITE, as AWS derives it without x-amz-checksum-type."""
    body = bytes(range(256)) * (24 * 1024) + b"tail"  # 6 MiB + 4 bytes: two parts
    minio.put_object(bucket, "big", io.BytesIO(body), len(body), part_size=5 * MIB,
                     metadata={"x-amz-checksum-algorithm": "CRC32C"})
    stat = minio.stat_object(bucket, "big")
    assert stat.size == len(body) and (stat.etag or "").endswith("-2")
    response = minio.get_object(bucket, "big")
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()

    def crc(data: bytes) -> bytes:
        return crc32c(data).to_bytes(4, "big")

    parts = [body[: 5 * MIB], body[5 * MIB:]]
    expected = base64.b64encode(crc(b"".join(crc(part) for part in parts))).decode() + "-2"
    head = boto.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32C"], head["ChecksumType"]) == (expected, "COMPOSITE")


def test_presigned_get_and_put(minio: Minio, bucket: str) -> None:
    put_url = minio.presigned_put_object(bucket, "signed key", expires=timedelta(minutes=5))
    assert requests.put(put_url, data=b"uploaded", timeout=10).status_code == 200
    get_url = minio.presigned_get_object(bucket, "signed key", expires=timedelta(minutes=5))
    fetched = requests.get(get_url, timeout=10)
    assert (fetched.status_code, fetched.content) == (200, b"uploaded")
    tampered = requests.get(get_url.replace("signed%20key", "other"), timeout=10)
    assert tampered.status_code == 403


def test_presigned_post_policy_upload(cloud: RunningCloud, minio: Minio, bucket: str) -> None:
    """A browser upload with MinIO's POST policy (SigV4): the key within `starts-with`, the type and
    size as the policy says; a key outside the prefix is refused and stores nothing."""
    policy = PostPolicy(bucket, datetime.now(UTC) + timedelta(minutes=5))
    policy.add_starts_with_condition("key", "uploads/")
    policy.add_equals_condition("Content-Type", "text/plain")
    policy.add_content_length_range_condition(1, 100)
    form = minio.presigned_post_policy(policy)
    posted = requests.post(f"{cloud.object_url}/{bucket}", timeout=10, files={"file": ("a.txt", b"data")},
                           data={**form, "key": "uploads/a", "Content-Type": "text/plain"})
    assert posted.status_code == 204, posted.text
    stat = minio.stat_object(bucket, "uploads/a")
    assert (stat.size, stat.content_type, f'"{stat.etag}"') == (4, "text/plain", posted.headers["etag"])
    outside = requests.post(f"{cloud.object_url}/{bucket}", timeout=10, files={"file": ("b", b"data")},
                            data={**form, "key": "elsewhere/b", "Content-Type": "text/plain"})
    assert outside.status_code == 403, outside.text
    assert b'Policy Condition failed: ["starts-with", "$key", "uploads/"]' in outside.content
    assert [found.object_name for found in minio.list_objects(bucket, recursive=True)] == ["uploads/a"]


def test_copy_with_conditions(minio: Minio, bucket: str) -> None:
    source = minio.put_object(bucket, "source", io.BytesIO(b"original"), 8)
    past, future = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    minio.copy_object(bucket, "same-etag", CopySource(bucket, "source", match_etag=source.etag))
    minio.copy_object(bucket, "changed", CopySource(bucket, "source", not_match_etag='"0"'))
    minio.copy_object(bucket, "modified", CopySource(bucket, "source", modified_since=past))
    for refused in (CopySource(bucket, "source", match_etag='"0"'),
                    CopySource(bucket, "source", not_match_etag=source.etag),
                    CopySource(bucket, "source", modified_since=future)):
        with pytest.raises(S3Error) as excinfo:
            minio.copy_object(bucket, "refused", refused)
        assert excinfo.value.code == "PreconditionFailed"
    copied = sorted(found.object_name or "" for found in minio.list_objects(bucket))
    assert copied == ["changed", "modified", "same-etag", "source"]
