"""S3 findings of the third security round (this session's authorizer, policies, ACL grants, public
access block, POST uploads), each sent as an attacker sends it."""

from __future__ import annotations

import json
import re
import time

import requests
from botocore.client import BaseClient

from cloud import RunningCloud


def _code(response: requests.Response) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", response.text)
    return found.group(1) if found else ""


def _put_policy(s3: BaseClient, bucket: str, *statements: dict[str, object]) -> None:
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17",
                                                           "Statement": list(statements)}))


# ------------------------------------------------ wildcards match in bounded time, whatever the pattern

def test_pathological_resource_wildcard_answers_quickly(cloud: RunningCloud, s3: BaseClient,
                                                        bucket: str) -> None:
    """Any bucket owner may write `a*a*a*...b`; matched by a backtracking regular expression against a
    1,000-character key it kept a worker busy for hours (4 stars and 300 characters: 4.7 s)."""
    pattern = "a" + "*a" * 12 + "b"
    _put_policy(s3, bucket, {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{bucket}/{pattern}"})
    started = time.monotonic()
    answer = requests.get(f"{cloud.object_url}/{bucket}/{'a' * 1000}", timeout=20)
    assert answer.status_code == 403 and _code(answer) == "AccessDenied"
    assert time.monotonic() - started < 5


def test_pathological_condition_wildcard_answers_quickly(cloud: RunningCloud, s3: BaseClient,
                                                         bucket: str) -> None:
    """StringLike on a header the caller writes (User-Agent, Referer): the same backtracking, with an
    anonymous caller choosing the value."""
    _put_policy(s3, bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                             "Resource": f"arn:aws:s3:::{bucket}/*",
                             "Condition": {"StringLike": {"aws:UserAgent": "x" + "*x" * 12 + "y"}}})
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    started = time.monotonic()
    answer = requests.get(f"{cloud.object_url}/{bucket}/k", headers={"User-Agent": "x" * 4000}, timeout=20)
    assert answer.status_code == 403
    assert time.monotonic() - started < 5
    allowed = requests.get(f"{cloud.object_url}/{bucket}/k", headers={"User-Agent": "x" * 40 + "y"},
                           timeout=20)
    assert allowed.content == b"secret"
