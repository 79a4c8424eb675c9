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


def test_transfer_manager_with_full_object_crc(s3: BaseClient, bucket: str) -> None:
    body = bytes(range(256)) * (48 * 1024)  # 12 MiB
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_fileobj(io.BytesIO(body), bucket, "managed", Config=config)
    assert s3.head_object(Bucket=bucket, Key="managed")["ETag"].endswith('-3"')
    out = io.BytesIO()
    s3.download_fileobj(bucket, "managed", out, Config=config)
    assert out.getvalue() == body
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    head = s3.head_object(Bucket=bucket, Key="managed", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == crc and head["ChecksumType"] == "FULL_OBJECT"


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
