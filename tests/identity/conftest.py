"""Fixtures for the identity tests: the real `openstack` CLI, an admin keystoneclient, fresh accounts."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from keystoneauth1 import session as ks_session
from keystoneclient.v3 import client as ks_client

from cloud import BIN, RunningCloud
from identity.helpers import Account, CliResult, OpenStack, password_session, unique


@pytest.fixture(scope="session")
def openstack(cloud: RunningCloud) -> OpenStack:
    """Run the real `openstack` CLI as admin, or as whoever the OS_* keyword overrides name."""

    def run(*args: str, **env: str) -> CliResult:
        done = subprocess.run([str(BIN / "openstack"), *args], env=cloud.cli_env(**env),
                              capture_output=True, text=True, timeout=60)
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="session")
def admin_session(cloud: RunningCloud) -> ks_session.Session:
    return password_session(cloud, "admin", cloud.admin_password)


@pytest.fixture(scope="session")
def admin_token(admin_session: ks_session.Session) -> str:
    return str(admin_session.get_token())


@pytest.fixture(scope="session")
def keystone(admin_session: ks_session.Session) -> Any:
    return ks_client.Client(session=admin_session, interface="public")


@pytest.fixture
def make_account(keystone: Any) -> Callable[[str], Account]:
    """Create a fresh project and a user holding `role` on it."""

    def make(role: str) -> Account:
        project = keystone.projects.create(unique("proj"), "default")
        name, password = unique(role), uuid.uuid4().hex
        user = keystone.users.create(name, domain="default", password=password)
        keystone.roles.grant(keystone.roles.find(name=role), user=user, project=project)
        return Account(user.id, name, password, project.id, project.name)

    return make
