"""Fixtures for the Swift tests: python-swiftclient connections and raw HTTP as admin or other users."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import swiftclient
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloud import RunningCloud
from swift.helpers import Swift, unique


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    password: str
    project_id: str
    project_name: str

    @property
    def account(self) -> str:
        return f"AUTH_{self.project_id}"


def session(cloud: RunningCloud, user: str, password: str, project: str) -> ks_session.Session:
    auth = v3.Password(auth_url=cloud.auth_url, username=user, password=password, project_name=project,
                       user_domain_id="default", project_domain_id="default")
    return ks_session.Session(auth=auth)


def connection(cloud: RunningCloud, user: str, password: str, project: str) -> swiftclient.Connection:
    return swiftclient.Connection(session=session(cloud, user, password, project), retries=0)


@pytest.fixture(scope="session")
def admin_session(cloud: RunningCloud) -> ks_session.Session:
    return session(cloud, "admin", cloud.admin_password, "admin")


@pytest.fixture(scope="session")
def conn(cloud: RunningCloud) -> swiftclient.Connection:
    return connection(cloud, "admin", cloud.admin_password, "admin")


@pytest.fixture(scope="session")
def admin_swift(cloud: RunningCloud, admin_session: ks_session.Session) -> Swift:
    project_id = admin_session.get_project_id()
    return Swift(cloud, f"AUTH_{project_id}", admin_session.get_token())


MakeUser = Callable[..., User]


@pytest.fixture(scope="session")
def make_user(cloud: RunningCloud, admin_session: ks_session.Session) -> MakeUser:
    """A fresh user holding `role` on a fresh project (or on `project_id`)."""
    base = cloud.auth_url

    def role_id(name: str) -> str:
        return str(admin_session.get(f"{base}/roles", params={"name": name}).json()["roles"][0]["id"])

    def make(role: str = "member", project_id: str | None = None) -> User:
        if project_id is None:
            body = {"project": {"name": unique("swproj"), "domain_id": "default"}}
            project_id = admin_session.post(f"{base}/projects", json=body).json()["project"]["id"]
        project_name = admin_session.get(f"{base}/projects/{project_id}").json()["project"]["name"]
        name, password = unique(role), uuid.uuid4().hex
        body = {"user": {"name": name, "password": password, "domain_id": "default"}}
        user_id = admin_session.post(f"{base}/users", json=body).json()["user"]["id"]
        admin_session.put(f"{base}/projects/{project_id}/users/{user_id}/roles/{role_id(role)}")
        return User(user_id, name, password, project_id, project_name)

    return make


@pytest.fixture(scope="session")
def user_swift(cloud: RunningCloud) -> Callable[[User, str | None], Swift]:
    """Raw HTTP as `user` against `account` (their own by default)."""

    def make(user: User, account: str | None = None) -> Swift:
        token = session(cloud, user.name, user.password, user.project_name).get_token()
        return Swift(cloud, account or user.account, token)

    return make


@pytest.fixture
def container(conn: swiftclient.Connection) -> Iterator[str]:
    """A fresh container of the admin account, emptied and removed afterwards."""
    name = unique("c")
    conn.put_container(name)
    yield name
    try:
        _, objects = conn.get_container(name, full_listing=True)
        for entry in objects:
            conn.delete_object(name, entry["name"])
        conn.delete_container(name)
    except swiftclient.ClientException:
        pass
