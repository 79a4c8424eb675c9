"""Container and account quotas as Swift 2.38's container_quotas and account_quotas answer (statuses and
bodies captured from the reference), enforced on every write path of both front ends: PUT (declared
or chunked), COPY, X-Copy-From, SLO and DLO manifests, bulk extract, and S3 PutObject, CopyObject and
CompleteMultipartUpload (s3api's answer: 400 EntityTooLarge)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests
import swiftclient
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cloud import RunningCloud
from swift.conftest import MakeUser, User
from swift.helpers import Swift, unique

EXCEEDED = (413, "Upload exceeds quota.")
UserSwift = Callable[..., Swift]


def _status(answer: requests.Response) -> tuple[int, str]:
    return answer.status_code, answer.text


@pytest.fixture
def owner(make_user: MakeUser, user_swift: UserSwift) -> tuple[User, Swift]:
    user = make_user("member")
    return user, user_swift(user)


def _s3_client(cloud: RunningCloud, swift: Swift, user: User) -> BaseClient:
    made = requests.post(f"{cloud.auth_url}/users/{user.user_id}/credentials/OS-EC2", timeout=30,
                         headers={"X-Auth-Token": swift.token or ""}, json={"tenant_id": user.project_id})
    made.raise_for_status()
    pair = made.json()["credential"]
    return boto3.client("s3", endpoint_url=cloud.object_url, region_name="us-east-1",
                        aws_access_key_id=pair["access"], aws_secret_access_key=pair["secret"])


def test_container_quota_values_must_be_whole_numbers(admin_swift: Swift) -> None:
    name = unique("quota")
    bad_bytes = admin_swift("PUT", f"/{name}", headers={"X-Container-Meta-Quota-Bytes": "x"})
    assert _status(bad_bytes) == (400, "Invalid bytes quota.")
    assert bad_bytes.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert admin_swift("HEAD", f"/{name}").status_code == 404  # nothing was created
    assert admin_swift("PUT", f"/{name}").status_code == 201
    bad_count = admin_swift("POST", f"/{name}", headers={"X-Container-Meta-Quota-Count": "-1"})
    assert _status(bad_count) == (400, "Invalid count quota.")
    assert admin_swift("POST", f"/{name}", headers={"X-Container-Meta-Quota-Count": "3"}).status_code == 204
    assert admin_swift("HEAD", f"/{name}").headers["X-Container-Meta-Quota-Count"] == "3"


def test_container_byte_quota_on_put_copy_and_chunked_uploads(admin_swift: Swift) -> None:
    name = unique("quota")
    assert admin_swift("PUT", f"/{name}", headers={"X-Container-Meta-Quota-Bytes": "10"}).status_code == 201
    assert admin_swift("PUT", f"/{name}/a", data=b"12345").status_code == 201
    assert _status(admin_swift("PUT", f"/{name}/b", data=b"123456")) == EXCEEDED
    # A chunked body declares no length: it is measured and refused at commit.
    chunked = admin_swift("PUT", f"/{name}/c", data=iter([b"123", b"456"]))
    assert _status(chunked) == EXCEEDED
    assert admin_swift("PUT", f"/{name}/b", data=b"12345").status_code == 201  # exactly at the quota
    assert _status(admin_swift("COPY", f"/{name}/a", headers={"Destination": f"{name}/d"})) == EXCEEDED
    assert _status(admin_swift("PUT", f"/{name}/d", headers={"X-Copy-From": f"{name}/a"})) == EXCEEDED
    listing = admin_swift("GET", f"/{name}?format=json").json()
    assert [entry["name"] for entry in listing] == ["a", "b"]
    # Raising the quota lets writes in again at once (every worker's cached metadata is dropped).
    assert admin_swift("POST", f"/{name}", headers={"X-Container-Meta-Quota-Bytes": "15"}).status_code == 204
    for _ in range(4):
        assert admin_swift("PUT", f"/{name}/c", data=b"12345").status_code in (201, 413)
    assert admin_swift("HEAD", f"/{name}/c").status_code == 200


def test_container_count_quota_counts_overwrites_and_manifests(admin_swift: Swift) -> None:
    name = unique("quota")
    assert admin_swift("PUT", f"/{name}", headers={"X-Container-Meta-Quota-Count": "2"}).status_code == 201
    assert admin_swift("PUT", f"/{name}/a", data=b"x").status_code == 201
    assert admin_swift("PUT", f"/{name}/dlo", headers={"X-Object-Manifest": f"{name}/a"}).status_code == 201
    # Swift counts every PUT as one more object, an overwrite too.
    assert _status(admin_swift("PUT", f"/{name}/a", data=b"y")) == EXCEEDED
    another_manifest = {"X-Object-Manifest": f"{name}/a"}
    assert _status(admin_swift("PUT", f"/{name}/dlo2", headers=another_manifest)) == EXCEEDED
    manifest = json.dumps([{"path": f"/{name}/a"}])
    assert _status(admin_swift("PUT", f"/{name}/slo?multipart-manifest=put", data=manifest)) == EXCEEDED
    assert admin_swift("DELETE", f"/{name}/dlo").status_code == 204
    assert admin_swift("PUT", f"/{name}/slo?multipart-manifest=put", data=manifest).status_code == 201


def test_bulk_extract_stops_at_the_quota(admin_swift: Swift) -> None:
    """(The reference's quota reads cached container totals, so its extraction may overshoot.)"""
    name = unique("quota")
    assert admin_swift("PUT", f"/{name}", headers={"X-Container-Meta-Quota-Count": "2"}).status_code == 201
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for member in ("one", "two", "three"):
            info = tarfile.TarInfo(member)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    answer = admin_swift("PUT", f"/{name}?extract-archive=tar", data=archive.getvalue(),
                         headers={"Accept": "application/json"})
    report = json.loads(answer.text.strip())
    assert report["Number Files Created"] == 2
    assert report["Errors"] == [[f"/{name}/three", "413 Request Entity Too Large"]]
    assert len(admin_swift("GET", f"/{name}?format=json").json()) == 2


def test_s3_writes_keep_the_container_quota(cloud: RunningCloud, owner: tuple[User, Swift]) -> None:
    user, swift = owner
    s3 = _s3_client(cloud, swift, user)
    name = unique("quota")
    s3.create_bucket(Bucket=name)
    six_mib = {"X-Container-Meta-Quota-Bytes": str(6 << 20)}
    assert swift("POST", f"/{name}", headers=six_mib).status_code == 204
    s3.put_object(Bucket=name, Key="small", Body=b"x" * 1024)

    def refused(call: object, **kwargs: object) -> None:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        error = caught.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("EntityTooLarge", "Upload exceeds quota.")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    refused(s3.put_object, Bucket=name, Key="big", Body=b"x" * (6 << 20))
    s3.put_object(Bucket=name, Key="five", Body=b"x" * (5 << 20))
    refused(s3.copy_object, Bucket=name, Key="copy", CopySource={"Bucket": name, "Key": "five"})
    upload = s3.create_multipart_upload(Bucket=name, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=name, Key="mp", UploadId=upload, PartNumber=1, Body=b"x" * (1 << 20))["ETag"]
    refused(s3.complete_multipart_upload, Bucket=name, Key="mp", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]) == ["five", "small"]


def test_concurrent_writers_cannot_overshoot_a_count_quota(admin_swift: Swift) -> None:
    name = unique("quota")
    assert admin_swift("PUT", f"/{name}", headers={"X-Container-Meta-Quota-Count": "5"}).status_code == 201
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda i: admin_swift("PUT", f"/{name}/o{i}", data=b"x").status_code,
                                 range(24)))
    assert statuses.count(201) == 5 and statuses.count(413) == 19
    assert admin_swift("HEAD", f"/{name}").headers["X-Container-Object-Count"] == "5"


def test_only_the_reseller_admin_sets_account_quotas(make_user: MakeUser, user_swift: UserSwift,
                                                     owner: tuple[User, Swift]) -> None:
    user, swift = owner
    for header in ("X-Account-Quota-Bytes", "X-Account-Meta-Quota-Bytes", "X-Account-Quota-Count",
                   "X-Remove-Account-Quota-Bytes"):
        # The account's own operator (member or admin) is refused, whatever the value.
        assert swift("POST", "", headers={header: "100"}).status_code == 403
        assert swift("PUT", "", headers={header: "100"}).status_code == 403
    assert "X-Account-Quota-Bytes" not in swift("HEAD").headers
    reseller = user_swift(make_user("ResellerAdmin"), user.account)
    assert reseller("POST", "", headers={"X-Account-Quota-Bytes": "ten"}).status_code == 400
    assert reseller("POST", "", headers={"X-Account-Quota-Bytes": "10",
                                         "X-Account-Quota-Count": "3"}).status_code == 204
    head = swift("HEAD")
    assert (head.headers["X-Account-Quota-Bytes"], head.headers["X-Account-Quota-Count"]) == ("10", "3")


def test_account_quotas_cover_every_container(make_user: MakeUser, user_swift: UserSwift,
                                              owner: tuple[User, Swift]) -> None:
    user, swift = owner
    reseller = user_swift(make_user("ResellerAdmin"), user.account)
    for name in ("one", "two"):
        assert swift("PUT", f"/{name}").status_code == 201
    assert reseller("POST", "", headers={"X-Account-Meta-Quota-Bytes": "8"}).status_code == 204
    assert swift("HEAD").headers["X-Account-Quota-Bytes"] == "8"  # the legacy header sets the quota
    assert swift("PUT", "/one/a", data=b"12345").status_code == 201
    assert _status(swift("PUT", "/two/b", data=b"12345")) == EXCEEDED
    assert swift("PUT", "/two/b", data=b"123").status_code == 201
    assert reseller("POST", "", headers={"X-Remove-Account-Quota-Bytes": "x",
                                         "X-Remove-Account-Meta-Quota-Bytes": "x"}).status_code == 204
    assert "X-Account-Quota-Bytes" not in swift("HEAD").headers
    assert swift("PUT", "/two/c", data=b"12345").status_code == 201
    assert reseller("POST", "", headers={"X-Account-Quota-Count": "3"}).status_code == 204
    assert _status(swift("PUT", "/one/d", data=b"")) == EXCEEDED


def test_swiftclient_sees_the_quota_refusal(conn: swiftclient.Connection) -> None:
    name = unique("quota")
    conn.put_container(name, headers={"X-Container-Meta-Quota-Bytes": "3"})
    with pytest.raises(swiftclient.ClientException) as caught:
        conn.put_object(name, "o", b"four")
    assert caught.value.http_status == 413
