"""Attacks on browser uploads (S3 POST object) and CORS, sent as an attacker would send them.

A signed form is a bearer credential handed to a browser: whoever holds it may try to stretch it to
another bucket, another key, a public ACL or a bigger file, or use a preflight to learn or gain access.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from typing import Any

import requests
from botocore.client import BaseClient

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient, unique


def _code(answer: requests.Response) -> tuple[int, str]:
    return answer.status_code, ET.fromstring(answer.content).findtext("Code") or ""


def _post(url: str, fields: dict[str, Any], content: bytes = b"data") -> requests.Response:
    return requests.post(url, data=fields, files={"file": ("f", content)}, timeout=30)


def _v4(make_client: MakeClient, pair: Ec2Pair) -> BaseClient:
    return make_client(pair, signature_version="s3v4")


def test_a_form_cannot_be_replayed_against_another_bucket(cloud: RunningCloud, make_client: MakeClient,
                                                         member: Ec2Pair) -> None:
    """Both buckets are the signer's: the policy names one, so the other refuses the form."""
    client = _v4(make_client, member)
    first, second = unique("bkt"), unique("bkt")
    client.create_bucket(Bucket=first)
    client.create_bucket(Bucket=second)
    signed = client.generate_presigned_post(first, "k")
    replayed = _post(f"{cloud.object_url}/{second}", signed["fields"])
    assert _code(replayed) == (403, "AccessDenied")
    assert "Policy Condition failed" in replayed.text and first in replayed.text
    assert client.list_objects_v2(Bucket=second).get("KeyCount") == 0


def test_a_policy_without_a_bucket_condition_is_refused(cloud: RunningCloud, make_client: MakeClient,
                                                       member: Ec2Pair, bucket: str, s3: BaseClient) -> None:
    """The bucket is an implicit field: a policy must name it, or the form would fit any bucket."""
    fields = _v4(make_client, member).generate_presigned_post(bucket, "k")["fields"]
    conditions = [["starts-with", "$key", ""]] + [{name: fields[name]} for name in (
        "x-amz-algorithm", "x-amz-credential", "x-amz-date")]
    document = {"expiration": "2099-01-01T00:00:00Z", "conditions": conditions}
    policy = base64.b64encode(json.dumps(document).encode()).decode()
    key = ("AWS4" + member.secret).encode()
    for part in (fields["x-amz-date"][:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
    answer = _post(f"{cloud.object_url}/{bucket}", {**fields, "policy": policy, "x-amz-signature": signature})
    assert _code(answer) == (403, "AccessDenied")
    assert "Extra input fields: bucket" in answer.text
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_unsigned_fields_cannot_be_smuggled_in(cloud: RunningCloud, make_client: MakeClient, member: Ec2Pair,
                                               s3: BaseClient, bucket: str) -> None:
    """A holder of the form adds `acl=public-read` (or a redirect) the signer did not allow."""
    signed = _v4(make_client, member).generate_presigned_post(bucket, "private-doc")
    for extra in ({"acl": "public-read"}, {"success_action_redirect": "https://evil.example/"},
                  {"x-amz-meta-owner": "attacker"}):
        answer = _post(signed["url"], {**signed["fields"], **extra})
        assert _code(answer) == (403, "AccessDenied"), extra
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    tampered = dict(signed["fields"])
    tampered["policy"] = tampered["policy"][:-4] + "AAA="
    assert _code(_post(signed["url"], tampered))[0] in (400, 403)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_anonymous_forms_cannot_reach_private_or_read_only_buckets(cloud: RunningCloud, s3: BaseClient,
                                                                   bucket: str) -> None:
    url = f"{cloud.object_url}/{bucket}"
    for acl in ("private", "public-read", "authenticated-read"):
        s3.put_bucket_acl(Bucket=bucket, ACL=acl)
        assert _code(_post(url, {"key": "planted"})) == (403, "AccessDenied"), acl
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_preflight_grants_nothing(cloud: RunningCloud, s3: BaseClient, bucket: str) -> None:
    """An allowed origin passes the preflight, and its actual request is still authorized as usual."""
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT", "DELETE"], "AllowedHeaders": ["*"]}]})
    s3.put_object(Bucket=bucket, Key="secret", Body=b"secret")
    url = f"{cloud.object_url}/{bucket}/secret"
    preflight = requests.options(url, timeout=10, headers={"Origin": "https://evil.example",
                                                            "Access-Control-Request-Method": "DELETE"})
    assert preflight.status_code == 200
    for method in ("GET", "PUT", "DELETE"):
        answer = requests.request(method, url, headers={"Origin": "https://evil.example"}, data=b"x",
                                  timeout=10)
        assert answer.status_code == 403, method
    assert s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"secret"
