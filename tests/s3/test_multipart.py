"""Multipart uploads through boto3 (defaults: CRC32 trailers on every part) and the transfer manager."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.client import BaseClient
from botocore.exceptions import ClientError

MIB = 1 << 20


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_multipart_round_trip(s3: BaseClient, bucket: str) -> None:
    parts = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu", ContentType="text/x", Metadata={"m": "1"})
    upload_id = upload["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload_id, PartNumber=number,
                            Body=body)["ETag"] for number, body in enumerate(parts, 1)]
    listed = s3.list_parts(Bucket=bucket, Key="mpu", UploadId=upload_id)
    assert [part["Size"] for part in listed["Parts"]] == [len(part) for part in parts]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mpu", upload_id)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]})
    assert done["ETag"] == multipart_etag(parts)
    head = s3.head_object(Bucket=bucket, Key="mpu")
    assert head["ContentLength"] == sum(map(len, parts)) and head["ContentType"] == "text/x"
    assert head["Metadata"] == {"m": "1"}
    assert s3.get_object(Bucket=bucket, Key="mpu", Range="bytes=5242878-5242881")["Body"].read() == b"aabb"
    second = s3.get_object(Bucket=bucket, Key="mpu", PartNumber=2)
    assert second["PartsCount"] == 3 and second["ContentLength"] == 5 * MIB
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    other = s3.create_multipart_upload(Bucket=bucket, Key="one")["UploadId"]
    with pytest.raises(ClientError) as excinfo:
        s3.list_parts(Bucket=bucket, Key="another", UploadId=other)
    assert error_code(excinfo) == "NoSuchUpload"
    with pytest.raises(ClientError) as excinfo:
        s3.list_parts(Bucket=bucket, Key="mpu", UploadId=upload_id)
    assert error_code(excinfo) == "NoSuchUpload"


def crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_transfer_manager_checksums(s3: BaseClient, bucket: str) -> None:
    """boto3 asks for CRC32 without a type: COMPOSITE, as AWS answers; with the whole object's CRC32
    given, s3transfer asks for FULL_OBJECT."""
    body = bytes(range(256)) * (48 * 1024)  # 12 MiB
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_fileobj(io.BytesIO(body), bucket, "managed", Config=config)
    assert s3.head_object(Bucket=bucket, Key="managed")["ETag"].endswith('-3"')
    out = io.BytesIO()
    s3.download_fileobj(bucket, "managed", out, Config=config)
    assert out.getvalue() == body
    parts = [body[start:start + 5 * MIB] for start in range(0, len(body), 5 * MIB)]
    head = s3.head_object(Bucket=bucket, Key="managed", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == b64(crc32(b"".join(map(crc32, parts)))) + "-3"
    assert head["ChecksumType"] == "COMPOSITE"
    whole = b64(crc32(body))
    s3.upload_fileobj(io.BytesIO(body), bucket, "full", Config=config, ExtraArgs={"ChecksumCRC32": whole})
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == whole and head["ChecksumType"] == "FULL_OBJECT"


@pytest.mark.parametrize("asked", [None, "COMPOSITE", "FULL_OBJECT"])
def test_checksum_type_is_composite_unless_asked(s3: BaseClient, bucket: str, asked: str | None) -> None:
    from awscrt.checksums import crc32c

    def crc(data: bytes) -> bytes:
        return crc32c(data).to_bytes(4, "big")

    extra = {"ChecksumType": asked} if asked else {}
    created = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="CRC32C", **extra)
    kind = asked or "COMPOSITE"
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == ("CRC32C", kind)
    upload_id, parts = created["UploadId"], [b"p" * (5 * MIB), b"tail"]
    listed = []
    for number, body in enumerate(parts, 1):
        done = s3.upload_part(Bucket=bucket, Key="c", UploadId=upload_id, PartNumber=number, Body=body,
                              ChecksumAlgorithm="CRC32C")
        assert done["ChecksumCRC32C"] == b64(crc(body))
        listed.append({"PartNumber": number, "ETag": done["ETag"], "ChecksumCRC32C": done["ChecksumCRC32C"]})
    assert s3.list_parts(Bucket=bucket, Key="c", UploadId=upload_id)["ChecksumType"] == kind
    value = b64(crc(b"".join(parts))) if kind == "FULL_OBJECT" else b64(crc(b"".join(map(crc, parts)))) + "-2"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=upload_id,
                                        MultipartUpload={"Parts": listed})
    assert (done["ChecksumCRC32C"], done["ChecksumType"]) == (value, kind)
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32C"], head["ChecksumType"]) == (value, kind)
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert (got["ChecksumCRC32C"], got["ChecksumType"]) == (value, kind)
    assert got["Body"].read() == b"".join(parts)
    attrs = s3.get_object_attributes(Bucket=bucket, Key="c", ObjectAttributes=["Checksum"])["Checksum"]
    assert (attrs["ChecksumCRC32C"], attrs["ChecksumType"]) == (value, kind)


@pytest.mark.parametrize(("algorithm", "kind"), [("SHA256", "FULL_OBJECT"), ("SHA1", "FULL_OBJECT"),
                                               ("CRC64NVME", "COMPOSITE")])
def test_checksum_types_aws_refuses(s3: BaseClient, bucket: str, algorithm: str, kind: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType=kind)
    assert error_code(excinfo) == "InvalidRequest"
    assert excinfo.value.response["Error"]["Message"] == (
        f"The {kind} checksum type cannot be used with the {algorithm.lower()} checksum algorithm.")


def test_crc64nvme_uploads_are_full_object(s3: BaseClient, bucket: str) -> None:
    created = s3.create_multipart_upload(Bucket=bucket, Key="n", ChecksumAlgorithm="CRC64NVME")
    assert created["ChecksumType"] == "FULL_OBJECT"
    s3.abort_multipart_upload(Bucket=bucket, Key="n", UploadId=created["UploadId"])


def test_composite_checksum(s3: BaseClient, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="sha", ChecksumAlgorithm="SHA256")["UploadId"]
    parts = [b"x" * (5 * MIB), b"y"]
    sums = []
    for number, body in enumerate(parts, 1):
        result = s3.upload_part(Bucket=bucket, Key="sha", UploadId=upload_id, PartNumber=number, Body=body,
                                ChecksumAlgorithm="SHA256")
        sums.append({"PartNumber": number, "ETag": result["ETag"],
                     "ChecksumSHA256": result["ChecksumSHA256"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="sha", UploadId=upload_id,
                                        MultipartUpload={"Parts": sums})
    raw = b"".join(hashlib.sha256(part).digest() for part in parts)
    expected = base64.b64encode(hashlib.sha256(raw).digest()).decode() + "-2"
    assert done["ChecksumSHA256"] == expected
    attrs = s3.get_object_attributes(Bucket=bucket, Key="sha", ObjectAttributes=["ObjectParts", "Checksum"])
    assert attrs["ObjectParts"]["TotalPartsCount"] == 2
    assert attrs["Checksum"]["ChecksumType"] == "COMPOSITE"


def test_completion_errors(s3: BaseClient, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=1, Body=b"small")["ETag"]
    last = s3.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=2, Body=b"last")["ETag"]

    def complete(parts: list[dict[str, object]]) -> str:
        with pytest.raises(ClientError) as excinfo:
            s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
        return error_code(excinfo)

    assert complete([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}]) == "InvalidPartOrder"
    assert complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 3, "ETag": last}]) == "InvalidPart"
    assert complete([{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]) == "InvalidPart"
    assert complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}]) == "EntityTooSmall"
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=10001, Body=b"x")
    assert error_code(excinfo) == "InvalidArgument"
    s3.abort_multipart_upload(Bucket=bucket, Key="bad", UploadId=upload_id)
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert error_code(excinfo) == "NoSuchUpload"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_conditional_completion(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="exists", Body=b"old")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="exists")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="exists", UploadId=upload_id, PartNumber=1, Body=b"new")["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="exists", UploadId=upload_id, IfNoneMatch="*",
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert error_code(excinfo) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="exists")["Body"].read() == b"old"


def test_upload_part_copy_with_range(s3: BaseClient, bucket: str) -> None:
    source = bytes(range(256)) * (24 * 1024)  # 6 MiB
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"},
                                CopySourceRange=f"bytes=0-{5 * MIB - 1}")["CopyPartResult"]["ETag"]
    second = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=2,
                                 CopySource=f"{bucket}/src",
                                 CopySourceRange="bytes=0-9")["CopyPartResult"]["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=3,
                            CopySource=f"{bucket}/src", CopySourceRange=f"bytes=0-{len(source)}")
    assert error_code(excinfo) == "InvalidArgument"  # as S3 answers a range past the source's end
    assert excinfo.value.response["Error"]["Message"] == (
        f"Range specified is not valid for source object of size: {len(source)}")
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[: 5 * MIB] + source[:10]
