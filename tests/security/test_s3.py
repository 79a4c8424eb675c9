"""S3 findings of the security review (issue 7: 3, 4, 15 and the S3 part of 18), sent as an attacker would."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
import requests
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.credentials import Credentials

from cloud import RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique
from swift.conftest import MakeUser, User
from swift.helpers import Swift

SECRET = b"the payroll of every employee"


def _code(response: requests.Response) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", response.text)
    return found.group(1) if found else ""


def _xml_field(response: requests.Response, name: str) -> str:
    found = re.search(rf"<{name}>([^<]*)</{name}>", response.text)
    return found.group(1) if found else ""


@pytest.fixture
def victim(s3: BaseClient) -> dict[str, str]:
    """A private bucket holding a secret, and a public-read-write bucket, both of one project."""
    private, public = unique("private"), unique("dropbox")
    s3.create_bucket(Bucket=private)
    s3.put_object(Bucket=private, Key="secret.txt", Body=SECRET)
    s3.create_bucket(Bucket=public, ACL="public-read-write")
    return {"private": private, "public": public}


# ------------------------------------------------------------------ 3. copy sources are read as the caller


def test_anonymous_copy_object_cannot_read_a_private_source(cloud: RunningCloud,
                                                            victim: dict[str, str]) -> None:
    url = f"{cloud.object_url}/{victim['public']}/stolen.txt"
    copied = requests.put(url, headers={"x-amz-copy-source": f"/{victim['private']}/secret.txt"}, timeout=10)
    assert copied.status_code == 403, copied.text
    assert _code(copied) == "AccessDenied"
    assert requests.get(url, timeout=10).status_code == 404


def test_anonymous_upload_part_copy_cannot_read_a_private_source(cloud: RunningCloud,
                                                                 victim: dict[str, str]) -> None:
    base = f"{cloud.object_url}/{victim['public']}/stolen.bin"
    created = requests.post(base + "?uploads", timeout=10)
    assert created.status_code == 200, created.text
    upload_id = _xml_field(created, "UploadId")
    for extra in ({}, {"x-amz-copy-source-range": "bytes=0-9"}):
        copied = requests.put(f"{base}?partNumber=1&uploadId={upload_id}", timeout=10,
                              headers={"x-amz-copy-source": f"{victim['private']}/secret.txt", **extra})
        assert copied.status_code == 403, copied.text
        assert _code(copied) == "AccessDenied"


def test_anonymous_copy_reads_what_an_anonymous_get_reads(cloud: RunningCloud, s3: BaseClient,
                                                          victim: dict[str, str]) -> None:
    """The check is GetObject's: a public-read object of a private bucket may be copied, a private one not."""
    s3.put_object(Bucket=victim["private"], Key="flyer.txt", Body=b"open day", ACL="public-read")
    url = f"{cloud.object_url}/{victim['public']}/copy.txt"
    copied = requests.put(url, headers={"x-amz-copy-source": f"/{victim['private']}/flyer.txt"}, timeout=10)
    assert copied.status_code == 200, copied.text
    assert requests.get(url, timeout=10).content == b"open day"


def test_anonymous_list_parts_needs_a_public_bucket(cloud: RunningCloud, s3: BaseClient,
                                                    victim: dict[str, str]) -> None:
    upload_id = s3.create_multipart_upload(Bucket=victim["private"], Key="draft.bin")["UploadId"]
    url = f"{cloud.object_url}/{victim['private']}/draft.bin?uploadId={upload_id}"
    listed = requests.get(url, timeout=10)
    assert listed.status_code == 403, listed.text
    assert _code(listed) == "AccessDenied"


def test_another_project_cannot_copy_a_private_source(make_client: MakeClient, make_pair: MakePair,
                                                      victim: dict[str, str]) -> None:
    intruder = make_client(make_pair("member"))
    own = unique("mine")
    intruder.create_bucket(Bucket=own)
    with pytest.raises(intruder.exceptions.ClientError) as raised:
        intruder.copy_object(Bucket=own, Key="stolen.txt",
                             CopySource={"Bucket": victim["private"], "Key": "secret.txt"})
    assert raised.value.response["Error"]["Code"] == "AccessDenied"


# ------------------------------------------------------------------ 4. presigned requests sign their headers


@pytest.fixture
def presigner(make_client: MakeClient, member: Ec2Pair) -> BaseClient:
    """boto3 presigns S3 URLs with SigV2 unless asked for SigV4."""
    return make_client(member, signature_version="s3v4")


@pytest.mark.parametrize("header", ["x-amz-acl", "x-amz-copy-source"])
def test_presigned_put_refuses_unsigned_amz_headers(s3: BaseClient, presigner: BaseClient,
                                                    victim: dict[str, str], header: str) -> None:
    url = presigner.generate_presigned_url("put_object", ExpiresIn=300,
                                           Params={"Bucket": victim["private"], "Key": "upload.txt"})
    assert "X-Amz-SignedHeaders=host&" in url
    value = "public-read" if header == "x-amz-acl" else f"/{victim['private']}/secret.txt"
    sent = requests.put(url, data=b"" if header == "x-amz-copy-source" else b"hello", headers={header: value},
                        timeout=10)
    assert sent.status_code == 403, sent.text
    assert _code(sent) == "AccessDenied"
    assert "There were headers present in the request which were not signed" in sent.text
    assert _xml_field(sent, "HeadersNotSigned") == header
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=victim["private"], Key="upload.txt")


def test_presigned_put_still_works_with_its_signed_headers(cloud: RunningCloud, presigner: BaseClient,
                                                           victim: dict[str, str]) -> None:
    url = presigner.generate_presigned_url("put_object", ExpiresIn=300, Params={
        "Bucket": victim["private"], "Key": "shared.txt", "ACL": "public-read"})
    assert "x-amz-acl" in url
    sent = requests.put(url, data=b"hello", headers={"x-amz-acl": "public-read"}, timeout=10)
    assert sent.status_code == 200, sent.text
    assert requests.get(f"{cloud.object_url}/{victim['private']}/shared.txt", timeout=10).content == b"hello"


def test_presigned_get_may_carry_an_unsigned_content_sha256(presigner: BaseClient,
                                                             victim: dict[str, str]) -> None:
    """Compatibility guard: its value is in the canonical request, so leaving it unsigned changes nothing."""
    url = presigner.generate_presigned_url("get_object", ExpiresIn=300,
                                           Params={"Bucket": victim["private"], "Key": "secret.txt"})
    sent = requests.get(url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, timeout=10)
    assert sent.status_code == 200, sent.text
    assert sent.content == SECRET


class _HostlessQueryAuth(S3SigV4QueryAuth):
    """A presigner that leaves `host` out of X-Amz-SignedHeaders (the URL then works on any host)."""

    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = super().headers_to_sign(request)
        del headers["host"]
        return headers


class _HostlessHeaderAuth(S3SigV4Auth):
    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = super().headers_to_sign(request)
        del headers["host"]
        return headers


def _signed(signer: Callable[[Credentials], S3SigV4Auth], pair: Ec2Pair, url: str) -> AWSRequest:
    request = AWSRequest(method="GET", url=url)
    signer(Credentials(pair.access, pair.secret)).add_auth(request)
    return request


@pytest.mark.parametrize("presigned", [True, False], ids=["presigned", "header"])
def test_sigv4_requires_host_to_be_signed(cloud: RunningCloud, member: Ec2Pair, victim: dict[str, str],
                                          presigned: bool) -> None:
    url = f"{cloud.object_url}/{victim['private']}/secret.txt"
    if presigned:
        request = _signed(lambda creds: _HostlessQueryAuth(creds, "s3", "us-east-1", expires=300), member,
                          url)
    else:
        request = _signed(lambda creds: _HostlessHeaderAuth(creds, "s3", "us-east-1"), member, url)
    headers = {name: value for name, value in request.headers.items() if name.lower() != "host"}
    sent = requests.get(request.url, headers=headers, timeout=10)
    assert sent.status_code == 403, sent.text
    assert _code(sent) == "AccessDenied"
    assert _xml_field(sent, "HeadersNotSigned") == "host"


def test_sigv2_presigned_signs_amz_headers(cloud: RunningCloud, make_client: MakeClient, member: Ec2Pair,
                                           victim: dict[str, str]) -> None:
    """Keeps closed: SigV2 puts every x-amz-* header in its string to sign."""
    v2 = make_client(member, signature_version="s3")
    url = v2.generate_presigned_url("put_object", Params={"Bucket": victim["private"], "Key": "v2.txt"},
                                    ExpiresIn=300)
    sent = requests.put(url, data=b"hello", headers={"x-amz-acl": "public-read"}, timeout=10)
    assert sent.status_code == 403, sent.text
    assert _code(sent) == "SignatureDoesNotMatch"


# ------------------------------------------------------------------ 15. one owner per bucket name in S3


def test_a_same_named_bucket_of_another_project_neither_hides_nor_takes_a_public_bucket(
        cloud: RunningCloud, make_client: MakeClient, make_pair: MakePair, s3: BaseClient, member: Ec2Pair,
        victim: dict[str, str]) -> None:
    """Names are per project (as Swift's): a squatter's bucket of the same name is its own, while
    anonymous callers keep reaching the name's first creator, and the squatter reaches it only as
    `<project_id>:<bucket>`, with what its ACL grants anyone (no owner operations)."""
    public = victim["public"]
    s3.put_object(Bucket=public, Key="index.html", Body=b"welcome")
    squatter = make_client(make_pair("member"))
    squatter.create_bucket(Bucket=public)
    squatter.put_object(Bucket=public, Key="index.html", Body=b"impostor")
    assert requests.get(f"{cloud.object_url}/{public}/index.html", timeout=10).content == b"welcome"
    assert s3.get_object(Bucket=public, Key="index.html")["Body"].read() == b"welcome"
    # The owner may create it again (us-east-1 answers 200 to that) and it stays the owner's.
    assert s3.create_bucket(Bucket=public)["ResponseMetadata"]["HTTPStatusCode"] == 200
    tenant = f"{member.project_id}:{public}"
    assert requests.get(f"{cloud.object_url}/{tenant}/index.html", timeout=10).content == b"welcome"
    allow_tenant_names(squatter)
    assert squatter.get_object(Bucket=tenant, Key="index.html")["Body"].read() == b"welcome"
    for attempt in (lambda: squatter.put_bucket_acl(Bucket=tenant, ACL="private"),
                    lambda: squatter.delete_bucket(Bucket=tenant),
                    lambda: squatter.create_bucket(Bucket=f"{member.project_id}:{unique('foreign')}")):
        with pytest.raises(squatter.exceptions.ClientError) as raised:
            attempt()
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def allow_tenant_names(client: BaseClient) -> None:
    """botocore refuses `:` in bucket names before sending; Ceph RGW's tenant names need it."""
    from botocore.handlers import validate_bucket_name

    client.meta.events.unregister("before-parameter-build.s3", validate_bucket_name)


def test_a_swift_container_of_the_same_name_does_not_take_a_public_bucket_offline(
        cloud: RunningCloud, s3: BaseClient, make_user: MakeUser,
        user_swift: Callable[[User, str | None], Swift]) -> None:
    public = unique("public")
    s3.create_bucket(Bucket=public, ACL="public-read")
    s3.put_object(Bucket=public, Key="index.html", Body=b"welcome")
    other = user_swift(make_user("member"), None)
    assert other("PUT", f"/{public}").status_code == 201  # Swift names are per account, as in Swift
    assert other("PUT", f"/{public}/index.html", data=b"impostor").status_code == 201
    read = requests.get(f"{cloud.object_url}/{public}/index.html", timeout=10)
    assert read.status_code == 200, read.text
    assert read.content == b"welcome"
    assert s3.get_object(Bucket=public, Key="index.html")["Body"].read() == b"welcome"


def test_the_first_creator_owns_a_name_taken_through_swift(
        cloud: RunningCloud, make_client: MakeClient, make_pair: MakePair, make_user: MakeUser,
        user_swift: Callable[[User, str | None], Swift]) -> None:
    name = unique("taken")
    swift_owner = make_user("member")
    assert user_swift(swift_owner, None)("PUT", f"/{name}").status_code == 201
    latecomer = make_client(make_pair("member"))
    latecomer.create_bucket(Bucket=name)  # its own bucket of that name
    latecomer.put_object(Bucket=name, Key="mine", Body=b"x")
    same_project = make_client(make_pair("member", project_id=swift_owner.project_id))
    assert same_project.list_objects_v2(Bucket=name)["KeyCount"] == 0
    anonymous = requests.get(f"{cloud.object_url}/{name}", timeout=10)
    assert anonymous.status_code == 403
    assert _code(anonymous) == "AccessDenied"


# ------------------------------------------------------------------ 18. listings are well-formed XML


@pytest.fixture
def control_key_bucket(make_client: MakeClient, make_pair: MakePair, make_user: MakeUser,
                       user_swift: Callable[[User, str | None], Swift]) -> tuple[BaseClient, str]:
    """A bucket holding `a\\x01b` and `c\\x1fd` (stored through Swift) beside an ordinary `plain key`."""
    owner = make_user("member")
    client = make_client(make_pair("member", project_id=owner.project_id))
    name = unique("ctl")
    client.create_bucket(Bucket=name)
    swift = user_swift(owner, None)
    for key in ("a%01b", "c%1Fd", "plain%20key"):
        assert swift("PUT", f"/{name}/{key}", data=b"x").status_code == 201
    return client, name


def _presigned_listing(client: BaseClient, url: str) -> str:
    """`url` presigned exactly as given (botocore would add encoding-type=url to a listing)."""
    request = AWSRequest(method="GET", url=url)
    credentials = client._request_signer._credentials  # the client's own key
    S3SigV4QueryAuth(credentials, "s3", "us-east-1", expires=300).add_auth(request)
    return str(request.url)


@pytest.mark.parametrize("query", ["", "list-type=2", "list-type=2&prefix=a%01&delimiter=%1F", "uploads"])
def test_listings_without_encoding_type_are_well_formed(cloud: RunningCloud,
                                                        control_key_bucket: tuple[BaseClient, str],
                                                        query: str) -> None:
    client, name = control_key_bucket
    if query == "uploads":
        client.create_multipart_upload(Bucket=name, Key="a\x01b")
    url = f"{cloud.object_url}/{name}" + (f"?{query}" if query else "")
    listed = requests.get(_presigned_listing(client, url), timeout=10)
    assert listed.status_code == 200, listed.text
    root = ET.fromstring(listed.content)  # raises on characters XML 1.0 cannot carry
    assert root.findtext("{http://s3.amazonaws.com/doc/2006-03-01/}EncodingType") == "url"
    texts = "".join(root.itertext())
    assert "a%01b" in texts and "\x01" not in texts


def test_boto3_lists_keys_xml_cannot_carry(control_key_bucket: tuple[BaseClient, str]) -> None:
    client, name = control_key_bucket
    keys = [entry["Key"] for entry in client.list_objects_v2(Bucket=name)["Contents"]]
    assert keys == ["a\x01b", "c\x1fd", "plain key"]
    upload_id = client.create_multipart_upload(Bucket=name, Key="c\x1fd")["UploadId"]
    uploads = client.list_multipart_uploads(Bucket=name)  # boto3 asks no encoding-type here
    assert uploads["EncodingType"] == "url"
    assert [upload["Key"] for upload in uploads["Uploads"]] == ["c%1Fd"]
    assert client.list_parts(Bucket=name, Key="c\x1fd", UploadId=upload_id)["Key"] == "c%1Fd"
