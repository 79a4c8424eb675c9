"""S3 POST object: browser uploads with a signed POST policy (boto3's generate_presigned_post, SigV4
and SigV2) or anonymously into a public-read-write bucket, sent with `requests` as a browser sends a
form; every broken or disallowed form is refused with S3's error and stores nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.client import BaseClient
from keystoneauth1 import session as ks_session

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique

Form = dict[str, Any]


def post(url: str, fields: Form, content: bytes = b"file data", filename: str = "f.txt",
         **extra: Any) -> requests.Response:
    return requests.post(url, data=fields, files={"file": (filename, content)}, timeout=30, **extra)


def error(response: requests.Response) -> tuple[int, str, str]:
    root = ET.fromstring(response.content)
    return response.status_code, root.findtext("Code") or "", root.findtext("Message") or ""


def keys(s3: BaseClient, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture(scope="module")
def s3(make_client: MakeClient, member: Ec2Pair) -> BaseClient:
    """SigV4 forms (boto3 signs presigned POSTs with SigV2 unless told otherwise)."""
    return make_client(member, signature_version="s3v4")


def presigned(s3: BaseClient, bucket: str, key: str, conditions: list[Any] | None = None,
              fields: Form | None = None, expires: int = 300) -> tuple[str, Form]:
    signed = s3.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)
    return signed["url"], dict(signed["fields"])


def test_sigv4_upload_stores_fields_and_answers_204(s3: BaseClient, bucket: str) -> None:
    fields = {"Content-Type": "text/plain", "x-amz-meta-color": "red", "Cache-Control": "no-cache"}
    conditions = [{"Content-Type": "text/plain"}, ["starts-with", "$x-amz-meta-color", ""],
                  {"Cache-Control": "no-cache"}, ["content-length-range", 1, 1000]]
    url, form = presigned(s3, bucket, "docs/${filename}", conditions, fields)
    assert "x-amz-signature" in form
    posted = post(url, form, b"hello browser", filename="note.txt")
    assert posted.status_code == 204, posted.text
    assert posted.content == b""
    head = s3.head_object(Bucket=bucket, Key="docs/note.txt")
    assert (head["ContentType"], head["Metadata"], head["CacheControl"], head["ContentLength"]) == (
        "text/plain", {"color": "red"}, "no-cache", 13)
    assert posted.headers["etag"] == head["ETag"]
    assert posted.headers["location"].endswith(f"/{bucket}/docs/note.txt")


def test_success_action_status_and_redirect(s3: BaseClient, bucket: str) -> None:
    url, form = presigned(s3, bucket, "created", [{"success_action_status": "201"}],
                          {"success_action_status": "201"})
    created = post(url, form)
    assert created.status_code == 201, created.text
    root = ET.fromstring(created.content)
    assert (root.tag, root.findtext("Bucket"), root.findtext("Key")) == ("PostResponse", bucket, "created")
    assert root.findtext("ETag") == created.headers["etag"]
    url, form = presigned(s3, bucket, "ok", [{"success_action_status": "200"}],
                          {"success_action_status": "200"})
    assert (post(url, form).status_code, post(url, form).content) == (200, b"")
    target = "https://app.example/done?from=upload"
    url, form = presigned(s3, bucket, "moved", [{"success_action_redirect": target}],
                          {"success_action_redirect": target})
    moved = post(url, form, allow_redirects=False)
    assert moved.status_code == 303, moved.text
    location = urlsplit(moved.headers["location"])
    assert (location.netloc, location.path) == ("app.example", "/done")
    assert parse_qs(location.query) == {"from": ["upload"], "bucket": [bucket], "key": ["moved"],
                                        "etag": [s3.head_object(Bucket=bucket, Key="moved")["ETag"]]}


def test_sigv2_upload(make_client: MakeClient, member: Ec2Pair, bucket: str, s3: BaseClient) -> None:
    v2 = make_client(member, signature_version="s3")
    url, form = presigned(v2, bucket, "v2-key")
    assert "signature" in form and "AWSAccessKeyId" in form
    assert post(url, form, b"v2").status_code == 204
    assert s3.get_object(Bucket=bucket, Key="v2-key")["Body"].read() == b"v2"
    form["signature"] = form["signature"][:-4] + "AAA="
    assert error(post(url, {**form, "key": "v2-key"}))[:2] == (403, "SignatureDoesNotMatch")


def test_policy_conditions_refuse_and_store_nothing(s3: BaseClient, bucket: str) -> None:
    url, form = presigned(s3, bucket, "in/${filename}", [["starts-with", "$key", "in/"]])
    failed = 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "in/"]'
    assert error(post(url, {**form, "key": "out/x"})) == (403, "AccessDenied", failed)
    assert error(post(url, {**form, "x-amz-meta-extra": "1"}))[2] == \
        "Invalid according to Policy: Extra input fields: x-amz-meta-extra"
    assert post(url, {**form, "x-ignore-anything": "1"}).status_code == 204
    url, form = presigned(s3, bucket, "m", [["eq", "$x-amz-meta-tag", "yes"]])
    assert error(post(url, form))[2] == \
        'Invalid according to Policy: Policy Condition failed: ["eq", "$x-amz-meta-tag", "yes"]'
    url, form = presigned(s3, bucket, "late", expires=-5)
    assert error(post(url, form)) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    assert keys(s3, bucket) == ["in/f.txt"]


def test_content_length_range(s3: BaseClient, bucket: str) -> None:
    url, form = presigned(s3, bucket, "sized", [["content-length-range", 10, 20]])
    large = post(url, form, b"x" * 21)
    assert error(large)[:2] == (400, "EntityTooLarge")
    assert b"<ProposedSize>21</ProposedSize><MaxSizeAllowed>20</MaxSizeAllowed>" in large.content
    small = post(url, form, b"x" * 9)
    assert error(small)[:2] == (400, "EntityTooSmall")
    assert b"<MinSizeAllowed>10</MinSizeAllowed>" in small.content
    big = post(url, form, b"y" * (5 << 20))  # over the range by far: refused while it streams
    assert error(big)[:2] == (400, "EntityTooLarge")
    assert keys(s3, bucket) == []
    assert post(url, form, b"z" * 15).status_code == 204


def test_a_large_file_streams_in(s3: BaseClient, bucket: str) -> None:
    url, form = presigned(s3, bucket, "large")
    content = bytes(range(256)) * (40 << 10)  # 10 MiB
    assert post(url, form, content).status_code == 204
    assert s3.head_object(Bucket=bucket, Key="large")["ContentLength"] == len(content)


def test_deleted_credential_and_other_projects(cloud: RunningCloud, make_pair: MakePair,
                                               make_client: MakeClient, admin: ks_session.Session,
                                               s3: BaseClient, bucket: str) -> None:
    stranger = make_pair("member")
    url, form = presigned(make_client(stranger, signature_version="s3v4"), bucket, "intruder")
    assert error(post(url, form))[:2] == (403, "AccessDenied")
    reader = make_pair("reader")
    url, form = presigned(make_client(reader, signature_version="s3v4"), bucket, "reader")
    assert error(post(url, form))[:2] == (403, "AccessDenied")
    doomed = make_pair("member")
    doomed_client = make_client(doomed, signature_version="s3v4")
    own = unique("bkt")
    doomed_client.create_bucket(Bucket=own)
    url, form = presigned(doomed_client, own, "k")
    admin.delete(f"{cloud.auth_url}/users/{doomed.user_id}/credentials/OS-EC2/{doomed.access}")
    assert error(post(url, form))[:2] == (403, "InvalidAccessKeyId")
    assert keys(s3, bucket) == []


def test_anonymous_form_needs_a_public_read_write_bucket(cloud: RunningCloud, s3: BaseClient,
                                                         bucket: str) -> None:
    url = f"{cloud.object_url}/{bucket}"
    assert error(post(url, {"key": "anon"}))[:2] == (403, "AccessDenied")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert error(post(url, {"key": "anon"}))[:2] == (403, "AccessDenied")
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert post(url, {"key": "anon", "Content-Type": "image/png"}, b"png").status_code == 204
    assert s3.head_object(Bucket=bucket, Key="anon")["ContentType"] == "image/png"
    assert error(post(url, {"key": "x", "policy": "e30="}))[:2] == (400, "InvalidArgument")


def signed_policy(pair: Ec2Pair, form: Form, policy: str) -> Form:
    """`form` with another policy, signed with SigV4 as a browser-upload form is."""
    date = form["x-amz-date"][:8]
    key = ("AWS4" + pair.secret).encode()
    for part in (date, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
    return {**form, "policy": policy, "x-amz-signature": signature}


def test_malformed_forms(cloud: RunningCloud, s3: BaseClient, member: Ec2Pair, bucket: str) -> None:
    url, form = presigned(s3, bucket, "k")
    no_file = requests.post(url, files={name: (None, value) for name, value in form.items()}, timeout=10)
    assert error(no_file)[:2] == (400, "IncorrectNumberOfFilesInPostRequest")
    too_much = post(url, {**form, "x-ignore-pad": "p" * (21 << 10)})
    assert error(too_much)[:2] == (400, "MaxPostPreDataLengthExceededError")
    without_key = {name: value for name, value in form.items() if name != "key"}
    assert error(post(url, without_key))[:2] == (400, "InvalidArgument")
    parts = {**{name: (None, value) for name, value in without_key.items()}, "key": (None, b"\xff\x01<")}
    not_utf8 = requests.post(url, files={**parts, "file": ("f", b"x")}, timeout=10)
    assert error(not_utf8)[:2] == (400, "InvalidArgument")
    broken = requests.post(url, data=b"--xyz\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk",
                           headers={"Content-Type": "multipart/form-data; boundary=xyz"}, timeout=10)
    assert error(broken)[:2] == (400, "MalformedPOSTRequest")
    for document in (b"not json", b'{"conditions": []}', b'{"expiration": "tomorrow", "conditions": []}',
                     b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}',
                     b'{"expiration": "2099-01-01T00:00:00Z", "conditions": [["content-length-range", 5]]}',
                     b"[" * 5000):
        resigned = signed_policy(member, form, base64.b64encode(document).decode())
        assert error(post(url, resigned))[:2] == (400, "InvalidPolicyDocument"), document
    assert error(post(url, {**form, "x-amz-credential": "short"}))[:2] == (400, "InvalidArgument")
    assert keys(s3, bucket) == []


def test_a_form_to_a_missing_bucket(cloud: RunningCloud, s3: BaseClient) -> None:
    name = unique("gone")
    url, form = presigned(s3, name, "k")
    assert error(post(url, form))[:2] == (404, "NoSuchBucket")


@pytest.mark.parametrize("field", ["Content-Type", "x-amz-meta-note"])
def test_header_fields_cannot_smuggle_lines(s3: BaseClient, bucket: str, field: str) -> None:
    url, form = presigned(s3, bucket, "k", [["starts-with", f"${field}", ""]], {field: "a\r\nx-evil: 1"})
    assert error(post(url, form))[:2] == (400, "InvalidArgument")
    assert keys(s3, bucket) == []


def test_browser_flow_with_cors_on_one_connection(s3: BaseClient, bucket: str) -> None:
    """A page on another origin posts the form (a simple request: no preflight) and reads the answer
    thanks to the bucket's CORS rule; a refused upload on the same keep-alive connection leaves it usable."""
    origin = "https://uploader.example"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [origin], "AllowedMethods": ["POST"], "ExposeHeaders": ["ETag", "Location"]}]})
    url, form = presigned(s3, bucket, "pics/${filename}", [["starts-with", "$key", "pics/"],
                                                          ["content-length-range", 1, 1 << 20]])
    with requests.Session() as browser:
        refused = browser.post(url, data=form, files={"file": ("big.bin", b"x" * (2 << 20))},
                               headers={"Origin": origin}, timeout=30)
        assert error(refused)[:2] == (400, "EntityTooLarge")
        assert refused.headers["access-control-allow-origin"] == origin
        posted = browser.post(url, data=form, files={"file": ("cat.png", b"png")}, headers={"Origin": origin},
                              timeout=30)
        assert posted.status_code == 204, posted.text
        exposed = posted.headers["access-control-expose-headers"]
        assert (posted.headers["access-control-allow-origin"], exposed) == (origin, "ETag, Location")
    assert keys(s3, bucket) == ["pics/cat.png"]


def test_tagging_field(s3: BaseClient, bucket: str) -> None:
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>"
    url, form = presigned(s3, bucket, "tagged", [{"tagging": tagging}], {"tagging": tagging})
    assert post(url, form).status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == [{"Key": "team", "Value": "web"}]
    url, form = presigned(s3, bucket, "bad", [["starts-with", "$tagging", ""]], {"tagging": "<Tagging>"})
    assert error(post(url, form))[:2] == (400, "MalformedXML")
    assert keys(s3, bucket) == ["tagged"]


def test_only_the_content_type_field_sets_the_type(s3: BaseClient, bucket: str) -> None:
    url, form = presigned(s3, bucket, "typed")
    posted = requests.post(url, data=form, files={"file": ("a.jpg", b"jpeg", "image/jpeg")}, timeout=10)
    assert posted.status_code == 204
    assert s3.head_object(Bucket=bucket, Key="typed")["ContentType"] == "binary/octet-stream"
