"""Server-side encryption through S3 (SSE-S3, SSE-KMS, SSE-C, bucket default encryption), driven by
boto3 and the aws CLI, and what Swift and the disk see of encrypted objects."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import swiftclient
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session

from cloud import BIN, RunningCloud, start_cloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique

MIB = 1 << 20
KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


def error_of(call: Callable[[], object]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
    )


def kms(cloud: RunningCloud, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "stackbox"), "kms", *args, "--data-dir", str(cloud.data_dir)],
        env={**os.environ, **cloud.operator_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def created_key(cloud: RunningCloud, alias: str | None = None) -> str:
    output = kms(cloud, "create", *(["--alias", alias] if alias else []))
    return output.splitlines()[1].split()[0]


def ssec(key: bytes) -> dict[str, Any]:
    """boto3's SSE-C parameters (it base64-encodes the key and adds its MD5)."""
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def copy_ssec(key: bytes) -> dict[str, Any]:
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": key}


def body(s3: BaseClient, bucket: str, key: str, **extra: Any) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    return data


def blob_files(cloud: RunningCloud) -> Iterator[Path]:
    yield from (path for path in (cloud.data_dir / "blobs").rglob("*") if path.is_file())


# ---------------------------------------------------------------------------------------------- SSE-S3


def test_sse_s3_round_trip(s3: BaseClient, bucket: str) -> None:
    data = os.urandom(300_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == len(data)
    assert body(s3, bucket, "k") == data
    ranged = s3.get_object(Bucket=bucket, Key="k", Range="bytes=65530-131080")
    assert ranged["Body"].read() == data[65530:131081] and ranged["ServerSideEncryption"] == "AES256"
    assert body(s3, bucket, "k", Range="bytes=-7") == data[-7:]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("k", len(data), put["ETag"])]
    s3.put_object(Bucket=bucket, Key="empty", Body=b"", ServerSideEncryption="AES256")
    assert body(s3, bucket, "empty") == b""
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="plain", Body=b"x")


def test_bad_encryption_headers(s3: BaseClient, bucket: str) -> None:
    status, code, _ = error_of(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES128")
    )  # type: ignore[arg-type]
    assert (status, code) == (400, "InvalidArgument")
    status, code, message = error_of(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", SSEKMSKeyId="whatever")
    )
    assert (status, code) == (400, "InvalidArgument") and "aws:kms" in message
    status, code, _ = error_of(
        lambda: s3.put_object(
            Bucket=bucket,
            Key="k",
            Body=b"x",
            ServerSideEncryption="aws:kms",
            SSEKMSEncryptionContext="not base64 json",
        )
    )
    assert (status, code) == (400, "InvalidArgument")
    status, code, _ = error_of(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256", **ssec(KEY_A))
    )
    assert (status, code) == (400, "InvalidArgument")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")  # nothing was written


# ---------------------------------------------------------------------------------------------- SSE-KMS


def test_sse_kms_keys_and_errors(cloud: RunningCloud, s3: BaseClient, bucket: str) -> None:
    key_id = created_key(cloud, alias=unique("app"))
    arn = f"arn:aws:kms:us-east-1:000000000000:key/{key_id}"
    context = base64.b64encode(b'{"purpose":"test"}').decode()
    put = s3.put_object(
        Bucket=bucket,
        Key="k",
        Body=b"kms data",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key_id,
        SSEKMSEncryptionContext=context,
        BucketKeyEnabled=True,
    )
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", arn)
    assert put["SSEKMSEncryptionContext"] == context and put["BucketKeyEnabled"] is True
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"kms data" and got["SSEKMSKeyId"] == arn
    by_arn = s3.put_object(
        Bucket=bucket, Key="by-arn", Body=b"a", ServerSideEncryption="aws:kms", SSEKMSKeyId=arn
    )
    assert by_arn["SSEKMSKeyId"] == arn
    default = s3.put_object(Bucket=bucket, Key="default", Body=b"d", ServerSideEncryption="aws:kms")
    assert default["SSEKMSKeyId"].startswith("arn:aws:kms:") and default["SSEKMSKeyId"] != arn

    status, code, _ = error_of(
        lambda: s3.put_object(
            Bucket=bucket,
            Key="k2",
            Body=b"x",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId="11111111-2222-3333-4444-555555555555",
        )
    )
    assert (status, code) == (400, "KMS.NotFoundException")

    kms(cloud, "rotate", key_id)
    s3.put_object(
        Bucket=bucket, Key="after-rotation", Body=b"new", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id
    )
    assert body(s3, bucket, "k") == b"kms data" and body(s3, bucket, "after-rotation") == b"new"
    assert f"{key_id}  Enabled   2" in kms(cloud, "list")

    kms(cloud, "disable", key_id)
    status, code, message = error_of(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert (status, code, message) == (400, "KMS.DisabledException", f"{arn} is disabled.")
    status, code, _ = error_of(
        lambda: s3.put_object(
            Bucket=bucket, Key="k3", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id
        )
    )
    assert (status, code) == (400, "KMS.DisabledException")
    assert s3.head_object(Bucket=bucket, Key="k")["SSEKMSKeyId"] == arn  # metadata needs no key
    kms(cloud, "enable", key_id)
    assert body(s3, bucket, "k") == b"kms data"


@pytest.mark.single_node("reads the embedded key files; on PostgreSQL the keys live in the database "
                        "(tests/identity/test_shared_keys.py)")
def test_key_store_is_private(cloud: RunningCloud, s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256")
    directory = cloud.data_dir / "kms"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("master.key", "keys.json"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    master = (directory / "master.key").read_bytes()
    assert len(master) == 32 and master not in (directory / "keys.json").read_bytes()


# ---------------------------------------------------------------------------------------------- SSE-C


def test_sse_c_round_trip_and_refusals(s3: BaseClient, bucket: str) -> None:
    data = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, **ssec(KEY_A))
    key_md5 = base64.b64encode(hashlib.md5(KEY_A).digest()).decode()
    assert (put["SSECustomerAlgorithm"], put["SSECustomerKeyMD5"]) == ("AES256", key_md5)
    assert "ServerSideEncryption" not in put
    got = s3.get_object(Bucket=bucket, Key="k", **ssec(KEY_A))
    assert got["Body"].read() == data and got["SSECustomerKeyMD5"] == key_md5
    assert body(s3, bucket, "k", Range="bytes=100000-100009", **ssec(KEY_A)) == data[100000:100010]
    assert s3.head_object(Bucket=bucket, Key="k", **ssec(KEY_A))["ContentLength"] == len(data)

    status, code, message = error_of(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert (status, code) == (400, "InvalidRequest") and "Server Side Encryption" in message
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="k", **ssec(KEY_B)))[:2] == (403, "AccessDenied")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="k"))[0] == 400
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="k", **ssec(KEY_B)))[0] == 403
    status, code, _ = error_of(
        lambda: s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    )
    assert (status, code) == (400, "InvalidRequest")

    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    status, code, message = error_of(lambda: s3.get_object(Bucket=bucket, Key="plain", **ssec(KEY_A)))
    assert (status, code) == (400, "InvalidRequest") and "not applicable" in message


def test_sse_c_header_checks(make_client: MakeClient, member: Ec2Pair, s3: BaseClient, bucket: str) -> None:
    raw = make_client(member)
    headers: dict[str, str] = {}

    def add_headers(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    raw.meta.events.register("before-sign.s3.PutObject", add_headers)
    cases = [
        ({"algorithm": "AES256"}, "must provide an appropriate secret key"),
        ({"algorithm": "AES128", "key": base64.b64encode(KEY_A).decode()}, "valid encryption algorithm"),
        (
            {
                "algorithm": "AES256",
                "key": base64.b64encode(b"short").decode(),
                "key-MD5": base64.b64encode(hashlib.md5(b"short").digest()).decode(),
            },
            "secret key was invalid",
        ),
        ({"algorithm": "AES256", "key": base64.b64encode(KEY_A).decode()}, "MD5 of the secret key"),
        (
            {
                "algorithm": "AES256",
                "key": base64.b64encode(KEY_A).decode(),
                "key-MD5": base64.b64encode(hashlib.md5(KEY_B).digest()).decode(),
            },
            "did not match",
        ),
    ]
    for given, expected in cases:
        headers.clear()
        headers.update(
            {f"x-amz-server-side-encryption-customer-{name}": value for name, value in given.items()}
        )
        status, code, message = error_of(lambda: raw.put_object(Bucket=bucket, Key="k", Body=b"x"))
        assert (status, code) == (400, "InvalidArgument") and expected in message, (given, message)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_sse_c_multipart(s3: BaseClient, bucket: str) -> None:
    parts_data = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", **ssec(KEY_A))
    assert upload["SSECustomerAlgorithm"] == "AES256"
    upload_id = upload["UploadId"]
    status, code, _ = error_of(
        lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"x")
    )
    assert (status, code) == (400, "InvalidRequest")
    status, code, _ = error_of(
        lambda: s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"x", **ssec(KEY_B)
        )
    )
    assert (status, code) == (400, "InvalidArgument")
    etags = [
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=data, **ssec(KEY_A))[
            "ETag"
        ]
        for n, data in enumerate(parts_data, 1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]},
    )
    whole = b"".join(parts_data)
    assert body(s3, bucket, "mp", **ssec(KEY_A)) == whole
    start = 5 * MIB - 10
    assert (
        body(s3, bucket, "mp", Range=f"bytes={start}-{start + 19}", **ssec(KEY_A))
        == whole[start : start + 20]
    )
    assert body(s3, bucket, "mp", PartNumber=3, **ssec(KEY_A)) == parts_data[2]
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="mp"))[0] == 400


def test_sse_kms_multipart_and_part_copy(s3: BaseClient, bucket: str) -> None:
    source = os.urandom(6 * MIB)
    s3.put_object(Bucket=bucket, Key="src", Body=source, **ssec(KEY_B))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms")
    assert upload["ServerSideEncryption"] == "aws:kms" and "SSEKMSKeyId" in upload
    upload_id = upload["UploadId"]
    first = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=os.urandom(5 * MIB)
    )
    assert first["ServerSideEncryption"] == "aws:kms"
    status, _, _ = error_of(
        lambda: s3.upload_part_copy(
            Bucket=bucket,
            Key="mp",
            UploadId=upload_id,
            PartNumber=2,
            CopySource={"Bucket": bucket, "Key": "src"},
        )
    )
    assert status == 400  # the SSE-C source needs its key
    copied = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange="bytes=0-99",
        **copy_ssec(KEY_B),
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["ETag"]},
                {"PartNumber": 2, "ETag": copied["CopyPartResult"]["ETag"]},
            ]
        },
    )
    got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MIB}-")
    assert got["Body"].read() == source[:100] and got["ServerSideEncryption"] == "aws:kms"


# ---------------------------------------------------------------------------------------------- copies


def test_copies_between_modes(s3: BaseClient, bucket: str) -> None:
    data = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="plain", Body=data)

    def copy(source: str, target: str, **extra: Any) -> dict[str, object]:
        answer: dict[str, object] = s3.copy_object(
            Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source}, **extra
        )
        return answer

    assert copy("plain", "s3", ServerSideEncryption="AES256")["ServerSideEncryption"] == "AES256"
    assert copy("s3", "kms", ServerSideEncryption="aws:kms")["ServerSideEncryption"] == "aws:kms"
    assert "ServerSideEncryption" not in copy("kms", "plain-again")
    copy("kms", "c-a", **ssec(KEY_A))
    assert error_of(lambda: copy("c-a", "x"))[:2] == (400, "InvalidRequest")  # no key for the source
    assert error_of(lambda: copy("c-a", "x", **copy_ssec(KEY_B)))[0] == 403
    copy("c-a", "c-b", **copy_ssec(KEY_A), **ssec(KEY_B))
    copy("c-a", "c-a2", **copy_ssec(KEY_A), **ssec(KEY_A))
    copy("c-b", "from-c", **copy_ssec(KEY_B))
    # Rotating a customer key by copying onto itself.
    copy("c-a", "c-a", **copy_ssec(KEY_A), **ssec(KEY_B))
    for key, extra in (
        ("s3", {}),
        ("kms", {}),
        ("plain-again", {}),
        ("c-b", ssec(KEY_B)),
        ("c-a2", ssec(KEY_A)),
        ("from-c", {}),
        ("c-a", ssec(KEY_B)),
    ):
        assert body(s3, bucket, key, **extra) == data, key
    assert error_of(lambda: body(s3, bucket, "c-b", **ssec(KEY_A)))[0] == 403
    assert error_of(lambda: body(s3, bucket, "c-a", **ssec(KEY_A)))[0] == 403
    status, code, _ = error_of(lambda: copy("plain", "plain"))
    assert (status, code) == (400, "InvalidRequest")  # a self-copy must change something
    assert copy("plain", "plain", ServerSideEncryption="AES256")["ServerSideEncryption"] == "AES256"
    assert body(s3, bucket, "plain") == data


# ------------------------------------------------------------------------------------------ bucket default


def test_bucket_default_encryption(cloud: RunningCloud, s3: BaseClient, bucket: str) -> None:
    status, code, _ = error_of(lambda: s3.get_bucket_encryption(Bucket=bucket))
    assert (status, code) == (404, "ServerSideEncryptionConfigurationNotFoundError")
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.put_object(Bucket=bucket, Key="d", Body=b"x")["ServerSideEncryption"] == "AES256"
    assert s3.put_object(Bucket=bucket, Key="c", Body=b"x", **ssec(KEY_A))["SSECustomerAlgorithm"] == "AES256"

    key_id = created_key(cloud)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_id,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert put["SSEKMSKeyId"].endswith(key_id) and put["BucketKeyEnabled"] is True
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert upload["ServerSideEncryption"] == "aws:kms"
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"])
    status, code, _ = error_of(
        lambda: s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "AES256",
                            "KMSMasterKeyID": key_id,
                        }
                    }
                ]
            },
        )
    )
    assert (status, code) == (400, "InvalidArgument")
    post = s3.generate_presigned_post(bucket, "posted")
    answer = requests.post(post["url"], data=post["fields"], files={"file": b"form data"}, timeout=30)
    assert answer.status_code == 204, answer.text
    assert s3.head_object(Bucket=bucket, Key="posted")["SSEKMSKeyId"].endswith(key_id)  # browser uploads too
    s3.delete_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="p", Body=b"x")
    assert error_of(lambda: s3.get_bucket_encryption(Bucket=bucket))[0] == 404


def test_others_cannot_touch_encryption(
    make_pair: MakePair, make_client: MakeClient, s3: BaseClient, bucket: str
) -> None:
    """An attacker from another project, even holding the customer key, is refused everything."""
    s3.put_object(Bucket=bucket, Key="c", Body=b"secret", **ssec(KEY_A))
    s3.put_object(Bucket=bucket, Key="s", Body=b"secret", ServerSideEncryption="AES256")
    attacker = make_client(make_pair("member"))
    assert error_of(lambda: attacker.get_object(Bucket=bucket, Key="c", **ssec(KEY_A)))[0] == 403
    assert error_of(lambda: attacker.get_object(Bucket=bucket, Key="s"))[0] == 403
    assert error_of(lambda: attacker.get_bucket_encryption(Bucket=bucket))[0] == 403
    assert (
        error_of(
            lambda: attacker.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
        )[0]
        == 403
    )
    assert error_of(lambda: attacker.delete_bucket_encryption(Bucket=bucket))[0] == 403


# ---------------------------------------------------------------------------------------------- on disk


@pytest.mark.single_node("reads and alters the node's blob files and meta.db")
def test_disk_holds_ciphertext_and_tampering_is_detected(
    cloud: RunningCloud, s3: BaseClient, bucket: str
) -> None:
    marker = unique("plaintext-marker").encode()
    data = marker * (400_000 // len(marker))
    before = set(blob_files(cloud))
    s3.put_object(Bucket=bucket, Key="s3", Body=data, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="c", Body=data, **ssec(KEY_A))
    s3.put_object(Bucket=bucket, Key="small", Body=marker, ServerSideEncryption="aws:kms")
    new = sorted(set(blob_files(cloud)) - before)
    assert len(new) == 3
    for path in new:
        assert marker not in path.read_bytes()
    assert marker not in (cloud.data_dir / "meta.db").read_bytes()
    wal = cloud.data_dir / "meta.db-wal"
    assert not wal.exists() or marker not in wal.read_bytes()

    size = len(data)
    victim = next(path for path in new if path.stat().st_size > size and path.read_bytes()[:4] == b"SBE1")
    content = bytearray(victim.read_bytes())
    content[200_000] ^= 0x01
    victim.write_bytes(bytes(content))
    broken = 0
    for key, extra in (("s3", {}), ("c", ssec(KEY_A))):
        try:
            got = body(s3, bucket, key, **extra)
        except Exception:
            broken += 1
        else:
            assert got == data  # the other object's blob is intact
    assert broken == 1


# ---------------------------------------------------------------------------------------------- Swift


def test_swift_reads(cloud: RunningCloud, admin: ks_session.Session, make_client: MakeClient) -> None:
    user_id, project_id = admin.get_user_id(), admin.get_project_id()
    credential = admin.post(
        f"{cloud.auth_url}/users/{user_id}/credentials/OS-EC2", json={"tenant_id": project_id}
    ).json()["credential"]
    s3 = make_client(Ec2Pair(credential["access"], credential["secret"], user_id, project_id, "admin"))
    swift = swiftclient.Connection(session=admin, retries=0)
    bucket = unique("ssw")
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(150_000)
    s3.put_object(Bucket=bucket, Key="s3", Body=data, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="kms", Body=data, ServerSideEncryption="aws:kms")
    s3.put_object(Bucket=bucket, Key="c", Body=data, **ssec(KEY_A))
    for key in ("s3", "kms"):
        headers, got = swift.get_object(bucket, key)
        assert got == data and headers["etag"] == hashlib.md5(data).hexdigest()
        assert swift.get_object(bucket, key, headers={"Range": "bytes=70000-70009"})[1] == data[70000:70010]
    with pytest.raises(swiftclient.ClientException) as caught:
        swift.get_object(bucket, "c")
    assert (
        caught.value.http_status == 403
        and "customer-provided key" in caught.value.http_response_content.decode()
    )
    with pytest.raises(swiftclient.ClientException) as caught:
        swift.put_object(bucket, "copy", None, headers={"X-Copy-From": f"{bucket}/c"})
    assert caught.value.http_status == 403
    swift.put_object(bucket, "copy", None, headers={"X-Copy-From": f"{bucket}/s3"})
    assert swift.get_object(bucket, "copy")[1] == data
    assert s3.head_object(Bucket=bucket, Key="copy")["ServerSideEncryption"] == "AES256"
    assert swift.head_object(bucket, "c")["content-length"] == str(len(data))


# ---------------------------------------------------------------------------------------------- aws CLI


def test_aws_cli_sse(
    cloud: RunningCloud, member: Ec2Pair, s3: BaseClient, bucket: str, tmp_path: Path
) -> None:
    env = cloud.cli_env(
        AWS_ACCESS_KEY_ID=member.access,
        AWS_SECRET_ACCESS_KEY=member.secret,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
    )

    def aws(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "aws"), "--endpoint-url", cloud.object_url, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    source = tmp_path / "big.bin"
    data = os.urandom(9 * MIB)  # above the CLI's multipart threshold
    source.write_bytes(data)
    key_id = created_key(cloud)
    customer_key = os.urandom(32).hex()[:32]  # the CLI sends the key's bytes as given
    aws("s3", "cp", str(source), f"s3://{bucket}/s3", "--sse", "AES256")
    aws("s3", "cp", str(source), f"s3://{bucket}/kms", "--sse", "aws:kms", "--sse-kms-key-id", key_id)
    aws("s3", "cp", str(source), f"s3://{bucket}/c", "--sse-c", "AES256", "--sse-c-key", customer_key)
    assert s3.head_object(Bucket=bucket, Key="s3")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="kms")["SSEKMSKeyId"].endswith(key_id)
    for key, extra in (("s3", []), ("kms", []), ("c", ["--sse-c", "AES256", "--sse-c-key", customer_key])):
        target = tmp_path / f"back-{key}"
        aws("s3", "cp", f"s3://{bucket}/{key}", str(target), *extra)
        assert target.read_bytes() == data
    done = subprocess.run(
        [
            str(BIN / "aws"),
            "--endpoint-url",
            cloud.object_url,
            "s3",
            "cp",
            f"s3://{bucket}/c",
            str(tmp_path / "nokey"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0


# ------------------------------------------------------------------------------ SSE-C over plain HTTP


def test_sse_c_can_require_tls(tmp_path: Path) -> None:
    """STACKBOX_SSE_C_PLAIN_HTTP=false: SSE-C only for requests that came as https (AWS's rule), here
    through a proxy that STACKBOX_FORWARDED_ALLOW_IPS trusts."""
    import boto3
    from keystoneauth1.identity import v3

    settings = {"STACKBOX_SSE_C_PLAIN_HTTP": "false", "STACKBOX_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    strict = start_cloud(tmp_path / "data", workers=1, extra_env=settings)
    try:
        auth = v3.Password(auth_url=strict.auth_url, username="admin", password=strict.admin_password,
                           project_name="admin", user_domain_id="default", project_domain_id="default")
        session = ks_session.Session(auth=auth)
        credential = session.post(f"{strict.auth_url}/users/{session.get_user_id()}/credentials/OS-EC2",
                                  json={"tenant_id": session.get_project_id()}).json()["credential"]
        client = boto3.client("s3", endpoint_url=strict.object_url, region_name="us-east-1",
                              aws_access_key_id=credential["access"],
                              aws_secret_access_key=credential["secret"])
        client.create_bucket(Bucket="tls")
        status, code, message = error_of(lambda: client.put_object(Bucket="tls", Key="k", Body=b"x",
                                                                   **ssec(KEY_A)))
        assert (status, code) == (400, "InvalidRequest") and "secure connection" in message
        client.put_object(Bucket="tls", Key="s3", Body=b"x", ServerSideEncryption="AES256")  # not SSE-C: fine

        def behind_tls_proxy(request: Any, **_: Any) -> None:
            request.headers["X-Forwarded-Proto"] = "https"

        client.meta.events.register("before-sign.s3.*", behind_tls_proxy)
        client.put_object(Bucket="tls", Key="k", Body=b"x", **ssec(KEY_A))
        assert body(client, "tls", "k", **ssec(KEY_A)) == b"x"
    finally:
        strict.stop()
