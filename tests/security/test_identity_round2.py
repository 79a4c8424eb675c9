"""Identity findings of the second security round (issue 7), sent as an attacker would (raw HTTP)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session

from cloud import RunningCloud
from swift.conftest import MakeUser, User

TOKENS = "/auth/tokens"


def _post(cloud: RunningCloud, path: str, body: Any, token: str | None = None) -> requests.Response:
    headers = {"X-Auth-Token": token} if token else {}
    return requests.post(f"{cloud.auth_url}{path}", json=body, headers=headers, timeout=30)


def _user_token(cloud: RunningCloud, user: User) -> str:
    auth = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user.name, "password": user.password, "domain": {"id": "default"}}}},
        "scope": {"project": {"id": user.project_id}}}
    issued = _post(cloud, TOKENS, {"auth": auth})
    assert issued.status_code == 201, issued.text
    return issued.headers["X-Subject-Token"]


def _role_id(admin_session: ks_session.Session, cloud: RunningCloud, name: str) -> str:
    roles = admin_session.get(f"{cloud.auth_url}/roles", params={"name": name}).json()["roles"]
    return str(roles[0]["id"])


# ------------------------------------------ an application credential stays within its own project


@pytest.fixture
def delegated(cloud: RunningCloud, make_user: MakeUser, admin_session: ks_session.Session
              ) -> tuple[User, str, str]:
    """A user who is admin of a second project, and a token of an unrestricted application credential
    they made for their first project only: (user, app cred token, second project id)."""
    user = make_user("member")
    other = admin_session.post(f"{cloud.auth_url}/projects", json={"project": {
        "name": f"elsewhere-{uuid.uuid4().hex[:8]}", "domain_id": "default"}}).json()["project"]["id"]
    admin_session.put(f"{cloud.auth_url}/projects/{other}/users/{user.user_id}/roles/"
                      f"{_role_id(admin_session, cloud, 'admin')}")
    body = {"application_credential": {"name": f"ci-{uuid.uuid4().hex[:8]}", "unrestricted": True}}
    made = _post(cloud, f"/users/{user.user_id}/application_credentials", body, _user_token(cloud, user))
    assert made.status_code == 201, made.text
    app_cred = made.json()["application_credential"]
    method = {"id": app_cred["id"], "secret": app_cred["secret"]}
    issued = _post(cloud, TOKENS, {"auth": {"identity": {"methods": ["application_credential"],
                                                         "application_credential": method}}})
    assert issued.status_code == 201, issued.text
    return user, issued.headers["X-Subject-Token"], other


def _ec2_requests(user: User, project_id: str) -> list[tuple[str, dict[str, Any]]]:
    blob = json.dumps({"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex})
    return [(f"/users/{user.user_id}/credentials/OS-EC2", {"tenant_id": project_id}),
            ("/credentials", {"credential": {"type": "ec2", "user_id": user.user_id, "project_id": project_id,
                                             "blob": blob}})]


@pytest.mark.parametrize("api", ["OS-EC2", "credentials"])
def test_application_credential_cannot_make_an_ec2_pair_for_another_project(
        cloud: RunningCloud, delegated: tuple[User, str, str], api: str) -> None:
    user, app_cred_token, other = delegated
    path, body = _ec2_requests(user, other)[0 if api == "OS-EC2" else 1]
    created = _post(cloud, path, body, app_cred_token)
    assert created.status_code == 403, created.text
    assert created.json()["error"]["code"] == 403


def test_application_credential_still_makes_ec2_pairs_for_its_own_project(
        cloud: RunningCloud, delegated: tuple[User, str, str]) -> None:
    user, app_cred_token, _ = delegated
    path, body = _ec2_requests(user, user.project_id)[0]
    created = _post(cloud, path, body, app_cred_token)
    assert created.status_code == 201, created.text
    pair = created.json()["credential"]
    s3 = boto3.client("s3", endpoint_url=cloud.object_url, region_name="us-east-1",
                      aws_access_key_id=pair["access"], aws_secret_access_key=pair["secret"])
    s3.list_buckets()
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=f"nothing-{uuid.uuid4().hex[:8]}")
