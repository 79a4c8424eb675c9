"""Fixtures for the S3 tests: EC2 pairs made through the identity API, boto3 clients on them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloud import RunningCloud


@dataclass(frozen=True)
class Ec2Pair:
    access: str
    secret: str
    user_id: str
    project_id: str
    project_name: str


MakePair = Callable[..., Ec2Pair]
MakeClient = Callable[..., BaseClient]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def refused(attempt: Callable[[], Any], code: str = "AccessDenied") -> None:
    """`attempt` (a boto3 call) fails with the S3 error `code`."""
    with pytest.raises(ClientError) as excinfo:
        attempt()
    assert error_code(excinfo) == code, excinfo.value.response


@pytest.fixture(scope="session")
def admin(cloud: RunningCloud) -> ks_session.Session:
    auth = v3.Password(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                       project_name="admin", user_domain_id="default", project_domain_id="default")
    return ks_session.Session(auth=auth)


def _role_id(admin: ks_session.Session, cloud: RunningCloud, name: str) -> str:
    roles = admin.get(f"{cloud.auth_url}/roles", params={"name": name}).json()["roles"]
    return str(roles[0]["id"])


@pytest.fixture(scope="session")
def make_pair(cloud: RunningCloud, admin: ks_session.Session) -> MakePair:
    """A fresh project, a user with `role` on it, and an EC2 pair of that user on that project."""

    def make(role: str = "member", project_id: str | None = None) -> Ec2Pair:
        base = cloud.auth_url
        if project_id is None:
            project = admin.post(f"{base}/projects", json={"project": {"name": unique("s3proj"),
                                                                       "domain_id": "default"}}).json()
            project_id, project_name = project["project"]["id"], project["project"]["name"]
        else:
            project_name = admin.get(f"{base}/projects/{project_id}").json()["project"]["name"]
        new_user = {"name": unique("s3user"), "password": unique("pw"), "domain_id": "default"}
        user = admin.post(f"{base}/users", json={"user": new_user}).json()["user"]
        admin.put(f"{base}/projects/{project_id}/users/{user['id']}/roles/{_role_id(admin, cloud, role)}")
        credential = admin.post(f"{base}/users/{user['id']}/credentials/OS-EC2",
                                json={"tenant_id": project_id}).json()["credential"]
        return Ec2Pair(credential["access"], credential["secret"], user["id"], project_id, project_name)

    return make


@pytest.fixture(scope="session")
def make_client(cloud: RunningCloud) -> MakeClient:
    """A boto3 S3 client with the default configuration (trailer checksums on)."""

    def make(pair: Ec2Pair | None, **config: Any) -> BaseClient:
        if pair is None:
            from botocore import UNSIGNED

            config["signature_version"] = UNSIGNED
        return boto3.client("s3", endpoint_url=cloud.object_url, region_name="us-east-1",
                            aws_access_key_id=pair.access if pair else "x",
                            aws_secret_access_key=pair.secret if pair else "x",
                            config=Config(**config) if config else None)

    return make


@pytest.fixture(scope="session")
def member(make_pair: MakePair) -> Ec2Pair:
    return make_pair("member")


@pytest.fixture(scope="session")
def s3(make_client: MakeClient, member: Ec2Pair) -> BaseClient:
    return make_client(member)


@pytest.fixture
def bucket(s3: BaseClient) -> str:
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    return name
