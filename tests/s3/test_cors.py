"""S3 bucket CORS: the configuration through boto3 and the aws CLI (validated as AWS validates it),
the anonymous OPTIONS preflight and the CORS headers of actual answers (presigned and error ones
too), with the answers AWS gives; only the bucket's owners configure it."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import BIN, RunningCloud
from s3.conftest import Ec2Pair, MakeClient, MakePair, unique

APP = "https://app.example"
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
RULES: list[dict[str, Any]] = [
    {"ID": "uploads", "AllowedOrigins": ["https://*.example"], "AllowedMethods": ["PUT", "POST"],
     "AllowedHeaders": ["content-*", "X-Amz-Meta-Color"], "ExposeHeaders": ["ETag", "x-amz-version-id"],
     "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = raised.value.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return status, response["Error"]["Code"], response["Error"]["Message"]


def preflight(url: str, origin: str | None, method: str | None,
              headers: str | None = None) -> requests.Response:
    sent = {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers}
    return requests.options(url, headers={k: v for k, v in sent.items() if v is not None}, timeout=10)


def xml_error(response: requests.Response) -> dict[str, str]:
    return {child.tag: child.text or "" for child in ET.fromstring(response.content)}


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()
            if name.lower().startswith("access-control-") or name.lower() == "vary"}


@pytest.fixture
def configured(s3: BaseClient, bucket: str) -> str:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    s3.put_object(Bucket=bucket, Key="obj", Body=b"hello")
    return bucket


def test_configuration_round_trip(s3: BaseClient, bucket: str) -> None:
    with pytest.raises(ClientError) as raised:
        s3.get_bucket_cors(Bucket=bucket)
    assert error_of(raised) == (404, "NoSuchCORSConfiguration", "The CORS configuration does not exist")
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


@pytest.mark.parametrize(("rules", "code", "message"), [
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest",
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    ([{"AllowedOrigins": ["https://*.*.example"], "AllowedMethods": ["GET"]}], "InvalidRequest",
     'AllowedOrigin "https://*.*.example" can not have more than one wildcard.'),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}], "InvalidRequest",
     'AllowedHeader "x-*-*" can not have more than one wildcard.'),
    ([], "MalformedXML", None),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "InvalidRequest", None),
])
def test_invalid_configurations(s3: BaseClient, bucket: str, rules: list[Any], code: str,
                                message: str | None) -> None:
    with pytest.raises(ClientError) as raised:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert error_of(raised)[:2] == (400, code)
    if message:
        assert error_of(raised)[2] == message
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_raw_documents_malformed_or_too_large(cloud: RunningCloud, s3: BaseClient, bucket: str) -> None:
    for document in (b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"
                     b"</CORSConfiguration>",
                     b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
                     b"</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule></CORSConfiguration>",
                     b"<Other/>",
                     b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
                     b"</AllowedMethod>" + b"<AllowedHeader>x</AllowedHeader>" * 3000
                     + b"</CORSRule></CORSConfiguration>"):
        url = s3.generate_presigned_url("put_bucket_cors", Params={
            "Bucket": bucket, "CORSConfiguration": {"CORSRules": RULES}})
        answer = requests.put(url, data=document, timeout=10)
        assert (answer.status_code, xml_error(answer)["Code"]) == (400, "MalformedXML"), document


def test_aws_cli_configures_cors(cloud: RunningCloud, member: Ec2Pair, bucket: str, tmp_path: Path) -> None:
    env = cloud.cli_env(AWS_ACCESS_KEY_ID=member.access, AWS_SECRET_ACCESS_KEY=member.secret,
                        AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"))
    config = tmp_path / "cors.json"
    config.write_text(json.dumps({"CORSRules": RULES}))

    def aws(*args: str) -> str:
        done = subprocess.run([str(BIN / "aws"), "--endpoint-url", cloud.object_url, "s3api", *args,
                               "--bucket", bucket], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    aws("put-bucket-cors", "--cors-configuration", f"file://{config}")
    assert json.loads(aws("get-bucket-cors")) == {"CORSRules": RULES}
    aws("delete-bucket-cors")


def test_preflight(cloud: RunningCloud, configured: str) -> None:
    url = f"{cloud.object_url}/{configured}/obj"
    allowed = preflight(url, APP, "PUT", "Content-Type, x-amz-meta-color")
    assert (allowed.status_code, allowed.content) == (200, b"")
    assert cors_headers(allowed) == {
        "access-control-allow-origin": APP, "access-control-allow-methods": "PUT, POST",
        "access-control-allow-headers": "content-type, x-amz-meta-color",
        "access-control-expose-headers": "ETag, x-amz-version-id", "access-control-max-age": "600",
        "access-control-allow-credentials": "true", "vary": VARY}
    anywhere = preflight(url, "http://elsewhere.test", "GET")
    assert cors_headers(anywhere)["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in cors_headers(anywhere)
    not_allowed = "CORSResponse: This CORS request is not allowed."
    for origin, method, headers, resource in [
            ("http://app.example", "PUT", None, "OBJECT"),  # the scheme is part of the origin
            (APP, "DELETE", None, "OBJECT"),
            (APP, "PUT", "x-amz-acl", "OBJECT"),
            ("http://elsewhere.test", "PUT", None, "OBJECT")]:
        refused = preflight(url, origin, method, headers)
        error = xml_error(refused)
        assert (refused.status_code, error["Code"], error["Method"], error["ResourceType"]) == (
            403, "AccessForbidden", method, resource)
        assert error["Message"].startswith(not_allowed)
    bucket_level = xml_error(preflight(f"{cloud.object_url}/{configured}", APP, "DELETE"))
    assert bucket_level["ResourceType"] == "BUCKET"


def test_preflight_errors(cloud: RunningCloud, s3: BaseClient, bucket: str) -> None:
    url = f"{cloud.object_url}/{bucket}/obj"
    no_origin = preflight(url, None, "GET")
    assert (no_origin.status_code, xml_error(no_origin)["Message"]) == (
        400, "Insufficient information. Origin request header needed.")
    not_enabled = xml_error(preflight(url, APP, "GET"))
    assert not_enabled["Message"] == "CORSResponse: CORS is not enabled for this bucket."
    missing = xml_error(preflight(f"{cloud.object_url}/{unique('nobucket')}/k", APP, "GET"))
    assert (missing["Code"], missing["Message"]) == ("AccessForbidden", "CORSResponse: Bucket not found")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    no_method = preflight(url, APP, None)
    assert (no_method.status_code, xml_error(no_method)["Code"]) == (400, "BadRequest")


def test_actual_responses_carry_cors_headers(cloud: RunningCloud, s3: BaseClient, configured: str) -> None:
    url = f"{cloud.object_url}/{configured}/obj"
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": configured, "Key": "obj"})
    got = requests.get(presigned, headers={"Origin": APP}, timeout=10)
    assert (got.status_code, got.content) == (200, b"hello")
    assert cors_headers(got) == {"access-control-allow-origin": "*",
                                 "access-control-allow-methods": "GET, HEAD", "vary": VARY}
    tampered = requests.get(presigned.replace("Signature=", "Signature=0"), headers={"Origin": APP},
                            timeout=10)
    assert tampered.status_code == 403
    assert cors_headers(tampered)["access-control-allow-origin"] == "*"
    assert cors_headers(requests.get(url, headers={"Origin": APP}, timeout=10))["vary"] == VARY
    upload = s3.generate_presigned_url("put_object", Params={"Bucket": configured, "Key": "up"})
    put = requests.put(upload, data=b"x", headers={"Origin": APP}, timeout=10)
    assert put.status_code == 200
    assert cors_headers(put)["access-control-allow-origin"] == APP
    assert cors_headers(put)["access-control-expose-headers"] == "ETag, x-amz-version-id"
    evil = requests.put(upload, data=b"x", headers={"Origin": "https://evil.test"}, timeout=10)
    assert cors_headers(evil) == {}
    assert cors_headers(requests.get(presigned, timeout=10)) == {}


def test_only_owners_configure_cors(cloud: RunningCloud, make_pair: MakePair, make_client: MakeClient,
                                    member: Ec2Pair, bucket: str) -> None:
    reader = make_client(make_pair("reader", project_id=member.project_id))
    stranger = make_client(make_pair("member"))
    for client in (reader, stranger):
        with pytest.raises(ClientError) as raised:
            client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
        assert error_of(raised)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError) as raised:
        stranger.get_bucket_cors(Bucket=bucket)
    assert error_of(raised)[:2] == (403, "AccessDenied")
    anonymous = requests.put(f"{cloud.object_url}/{bucket}?cors", timeout=10,
                             data=b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>"
                                  b"GET</AllowedMethod></CORSRule></CORSConfiguration>")
    assert anonymous.status_code == 403
    assert preflight(f"{cloud.object_url}/{bucket}/k", APP, "GET").status_code == 403
