"""`STACKBOX_S3_GLOBAL_BUCKET_NAMES=true`: AWS's one bucket namespace, in S3 and in Swift alike.

(The default, names per project, is tested in tests/security/test_s3.py and test_policy.py.)
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
from botocore.client import BaseClient
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloud import RunningCloud, start_cloud
from s3.conftest import unique


@pytest.fixture(scope="module")
def global_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(Path(tmp_path_factory.mktemp("global")) / "data", workers=1,
                          extra_env={"STACKBOX_S3_GLOBAL_BUCKET_NAMES": "true"})
    yield running
    running.stop(signal.SIGTERM)


def _project_user(cloud: RunningCloud) -> tuple[BaseClient, str]:
    """A boto3 client and a Swift token of a member of a new project."""
    admin = ks_session.Session(auth=v3.Password(
        auth_url=cloud.auth_url, username="admin", password=cloud.admin_password, project_name="admin",
        user_domain_id="default", project_domain_id="default"))
    base = cloud.auth_url
    project = admin.post(f"{base}/projects", json={"project": {"name": unique("g"), "domain_id": "default"}}
                         ).json()["project"]
    password = unique("pw")
    user = admin.post(f"{base}/users", json={"user": {"name": unique("gu"), "password": password,
                                                      "domain_id": "default"}}).json()["user"]
    role = admin.get(f"{base}/roles", params={"name": "member"}).json()["roles"][0]["id"]
    admin.put(f"{base}/projects/{project['id']}/users/{user['id']}/roles/{role}")
    pair = admin.post(f"{base}/users/{user['id']}/credentials/OS-EC2",
                      json={"tenant_id": project["id"]}).json()["credential"]
    client = boto3.client("s3", endpoint_url=cloud.object_url, region_name="us-east-1",
                          aws_access_key_id=pair["access"], aws_secret_access_key=pair["secret"])
    token = ks_session.Session(auth=v3.Password(
        auth_url=base, user_id=user["id"], password=password, project_id=project["id"])).get_token()
    return client, f"{cloud.object_url}/v1/AUTH_{project['id']}|{token}"


def test_a_name_taken_by_any_project_is_refused_to_the_others(global_cloud: RunningCloud) -> None:
    (first, first_swift), (second, second_swift) = _project_user(global_cloud), _project_user(global_cloud)
    name = unique("glob")
    first.create_bucket(Bucket=name)
    with pytest.raises(second.exceptions.ClientError) as raised:
        second.create_bucket(Bucket=name)
    assert raised.value.response["Error"]["Code"] == "BucketAlreadyExists"
    url, token = second_swift.split("|")
    assert requests.put(f"{url}/{name}", headers={"X-Auth-Token": token}, timeout=10).status_code == 409
    # A name first taken through Swift is refused to S3 too; its holder re-creates freely.
    swift_name = unique("globswift")
    url, token = first_swift.split("|")
    assert requests.put(f"{url}/{swift_name}", headers={"X-Auth-Token": token}, timeout=10).status_code == 201
    assert requests.put(f"{url}/{swift_name}", headers={"X-Auth-Token": token}, timeout=10).status_code == 202
    with pytest.raises(second.exceptions.ClientError) as raised:
        second.create_bucket(Bucket=swift_name)
    assert raised.value.response["Error"]["Code"] == "BucketAlreadyExists"
    assert first.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
