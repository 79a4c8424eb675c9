"""S3 part of issue 7 finding 11: a Range header of many ranges must not amplify an object.

AWS serves one range per GET ("Amazon S3 doesn't support retrieving multiple ranges of data per GET
request"): a multi-range header gets the whole object once, 200 without Content-Range.
"""

from __future__ import annotations

import requests
from botocore.client import BaseClient

OBJECT_SIZE = 64 * 1024


def test_overlapping_ranges_get_the_whole_object_once(s3: BaseClient, bucket: str) -> None:
    body = bytes(range(256)) * (OBJECT_SIZE // 256)
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    attack = "bytes=" + ",".join(["0-"] * 1000)
    answer = requests.get(url, headers={"Range": attack}, timeout=10)
    assert answer.status_code == 200
    assert "content-range" not in answer.headers
    assert (len(answer.content), answer.content) == (OBJECT_SIZE, body)


def test_two_ranges_get_the_whole_object_and_one_range_still_works(s3: BaseClient, bucket: str) -> None:
    body = b"0123456789"
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    several = requests.get(url, headers={"Range": "bytes=0-1,4-5"}, timeout=10)
    assert (several.status_code, several.content, several.headers["content-type"]) == (
        200, body, "binary/octet-stream")
    one = requests.get(url, headers={"Range": "bytes=4-5"}, timeout=10)
    assert (one.status_code, one.content, one.headers["content-range"]) == (206, b"45", "bytes 4-5/10")
