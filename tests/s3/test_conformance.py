"""What clients see, pinned where a diff against the real Swift s3api (or AWS S3, where s3api is wrong)
showed a difference: headers, XML element order, error details, retried completions."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3.conftest import Ec2Pair, MakeClient

MIB = 1 << 20


def raw_get(s3: BaseClient, operation: str, **params: Any) -> requests.Response:
    """The raw answer to a SigV4-presigned request, for what boto3's parsing would hide."""
    url = s3.generate_presigned_url(operation, Params=params, ExpiresIn=300)
    return requests.get(url, timeout=10)


@pytest.fixture(scope="module")
def s3v4(make_client: MakeClient, member: Ec2Pair) -> BaseClient:
    """Presigns with SigV4 (boto3 presigns with SigV2 unless told otherwise)."""
    return make_client(member, signature_version="s3v4")


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return dict(excinfo.value.response["Error"])


def element_order(body: bytes, names: tuple[str, ...]) -> list[str]:
    """The order in which the named elements first appear in an XML body."""
    found = {name: body.find(f"<{name}>".encode()) for name in names}
    return sorted((name for name, at in found.items() if at >= 0), key=found.__getitem__)


def test_every_answer_carries_a_request_id(s3: BaseClient, s3v4: BaseClient, bucket: str) -> None:
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ResponseMetadata"]["RequestId"],
           s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["RequestId"],
           s3.list_objects_v2(Bucket=bucket)["ResponseMetadata"]["RequestId"]]
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="missing")
    ids.append(excinfo.value.response["ResponseMetadata"]["RequestId"])
    assert all(re.fullmatch(r"[0-9A-F]{16}", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)
    answer = raw_get(s3v4, "get_object", Bucket=bucket, Key="missing")
    request_id = answer.headers["x-amz-request-id"]
    assert answer.headers["x-amz-id-2"] == request_id
    assert f"<RequestId>{request_id}</RequestId>".encode() in answer.content


def test_listing_times_agree_with_last_modified(s3: BaseClient, s3v4: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    listed = raw_get(s3v4, "list_objects_v2", Bucket=bucket).content
    stamp = re.search(rb"<LastModified>([^<]+)</LastModified>", listed)
    assert stamp is not None and stamp.group(1).endswith(b".000Z")  # whole seconds, as S3 keeps them
    header = s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]["last-modified"]
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"] == parsedate_to_datetime(header)


def test_list_v2_element_order(s3: BaseClient, s3v4: BaseClient, bucket: str) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    first = raw_get(s3v4, "list_objects_v2", Bucket=bucket, MaxKeys=1, StartAfter="0").content
    assert element_order(first, ("Prefix", "NextContinuationToken", "StartAfter", "KeyCount", "MaxKeys")) \
        == ["Prefix", "NextContinuationToken", "StartAfter", "KeyCount", "MaxKeys"]
    token = re.search(rb"<NextContinuationToken>([^<]+)<", first)
    assert token is not None
    second = raw_get(s3v4, "list_objects_v2", Bucket=bucket, MaxKeys=1,
                     ContinuationToken=token.group(1).decode()).content
    assert element_order(second, ("ContinuationToken", "NextContinuationToken", "KeyCount")) \
        == ["ContinuationToken", "NextContinuationToken", "KeyCount"]
    assert b"<Key>b</Key>" in second


def test_bad_continuation_token(s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="!!")
    error = error_of(excinfo)
    assert (error["Code"], error["Message"]) == ("InvalidArgument",
                                                 "The continuation token provided is incorrect")


def test_max_keys_is_echoed_and_checked(s3: BaseClient, s3v4: BaseClient, bucket: str) -> None:
    for number in range(3):
        s3.put_object(Bucket=bucket, Key=f"k{number}", Body=b"x")
    asked_more = s3.list_objects(Bucket=bucket, MaxKeys=5000)
    assert (asked_more["MaxKeys"], len(asked_more["Contents"])) == (5000, 3)
    empty = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert (empty["KeyCount"], empty["IsTruncated"], "Contents" in empty) == (0, False, False)
    answer = raw_get(s3v4, "list_objects", Bucket=bucket, MaxKeys=-1)
    assert answer.status_code == 400
    message = b"<Message>Argument max-keys must be an integer between 0 and 2147483647</Message>"
    assert message in answer.content


def test_url_encoded_listing_with_delimiter(s3: BaseClient, s3v4: BaseClient, bucket: str) -> None:
    for key in ("c d", "c+e", "dir/x", "\u00e9t\u00e9"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    body = raw_get(s3v4, "list_objects", Bucket=bucket, Delimiter="/", EncodingType="url").content
    keys = re.findall(rb"<Key>([^<]+)</Key>", body)
    assert keys == [b"c%20d", b"c%2Be", b"%C3%A9t%C3%A9"]
    assert b"<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>" in body
    listed = s3.list_objects_v2(Bucket=bucket, Delimiter="/")  # boto3 asks for url encoding and decodes
    assert [item["Key"] for item in listed["Contents"]] == ["c d", "c+e", "\u00e9t\u00e9"]
    assert listed["CommonPrefixes"] == [{"Prefix": "dir/"}]


def _two_part_upload(s3: BaseClient, bucket: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, body in ((1, b"a" * (5 * MIB)), (2, b"tail")):
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    return upload_id, parts


def test_retried_completion_gets_the_same_answer(s3: BaseClient, bucket: str) -> None:
    upload_id, parts = _two_part_upload(s3, bucket, "mp")
    first = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    assert again["ETag"] == first["ETag"] and first["ETag"].endswith('-2"')
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": parts[:1]})
    assert error_of(excinfo)["Code"] == "NoSuchUpload"
    with pytest.raises(ClientError) as excinfo:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert error_of(excinfo)["Code"] == "NoSuchUpload"


def test_completion_errors_name_the_part(s3: BaseClient, bucket: str) -> None:
    upload_id, parts = _two_part_upload(s3, bucket, "mp")
    wrong = [parts[0], {"PartNumber": 2, "ETag": '"00000000000000000000000000000000"'}]
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": wrong})
    error = error_of(excinfo)
    assert (error["Code"], error["PartNumber"], error["UploadId"]) == ("InvalidPart", "2", upload_id)
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": parts[::-1]})
    assert (error_of(excinfo)["Code"], error_of(excinfo)["UploadId"]) == ("InvalidPartOrder", upload_id)
    small = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=3, Body=b"x")["ETag"]
    with pytest.raises(ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={
            "Parts": [parts[1], {"PartNumber": 3, "ETag": small}]})
    error = error_of(excinfo)
    assert (error["Code"], error["PartNumber"], error["ProposedSize"], error["MinSizeAllowed"]) == (
        "EntityTooSmall", "2", "4", str(5 * MIB))
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)


def test_list_uploads_elements(s3: BaseClient, s3v4: BaseClient, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dir.bin")["UploadId"]
    plain = raw_get(s3v4, "list_multipart_uploads", Bucket=bucket).content
    assert b"<Prefix>" not in plain and b"<UploadId>" + upload_id.encode() in plain
    grouped = raw_get(s3v4, "list_multipart_uploads", Bucket=bucket, Delimiter=".", Prefix="d").content
    assert element_order(grouped, ("NextUploadIdMarker", "Delimiter", "Prefix", "MaxUploads")) == [
        "NextUploadIdMarker", "Delimiter", "Prefix", "MaxUploads"]
    assert b"<CommonPrefixes><Prefix>dir.</Prefix></CommonPrefixes>" in grouped
    s3.abort_multipart_upload(Bucket=bucket, Key="dir.bin", UploadId=upload_id)


def test_copy_from_missing_source_names_the_source(s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="target", CopySource={"Bucket": bucket, "Key": "absent"})
    assert (error_of(excinfo)["Code"], error_of(excinfo)["Key"]) == ("NoSuchKey", "absent")


def test_failed_write_condition_is_named(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"y", IfNoneMatch="*")
    error = error_of(excinfo)
    assert (error["Code"], error["Condition"]) == ("PreconditionFailed", "If-None-Match")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="k", Body=b"y", IfMatch='"0123"')
    assert error_of(excinfo)["Condition"] == "If-Match"


def signed_put(s3: BaseClient, path: str, body: bytes) -> requests.Response:
    """A SigV4-signed PUT of any body (boto3 would only send well-formed documents)."""
    url = f"{s3.meta.endpoint_url}{path}"
    request = AWSRequest(method="PUT", url=url, data=body)
    S3SigV4Auth(s3._request_signer._credentials, "s3", "us-east-1").add_auth(request)
    return requests.put(url, data=body, headers=dict(request.headers.items()), timeout=10)


def test_malformed_acl_documents(s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Grants": [{"Permission": "READ"}]})
    assert error_of(excinfo)["Code"] == "MalformedACLError"
    answer = signed_put(s3, f"/{bucket}?acl", b"<AccessControlPolicy>")
    assert answer.status_code == 400
    assert b"<Code>MalformedACLError</Code>" in answer.content
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"][0]["Permission"] == "FULL_CONTROL"
