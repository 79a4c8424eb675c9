"""Fixtures for the identity tests: the real `openstack` CLI, an admin keystoneclient, fresh accounts.

Every test of this package that uses a server runs twice: on the embedded SQLite store (the session's
shared server) and on PostgreSQL (a server of its own on a fresh database; skipped, saying why, when
PostgreSQL is not installed).
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from keystoneauth1 import session as ks_session
from keystoneclient.v3 import client as ks_client

from backends.cluster import PostgresCluster
from cloud import BIN, RunningCloud, start_cloud
from identity.helpers import Account, CliResult, OpenStack, password_session, unique

BACKENDS = ["sqlite", "postgresql"]


def fresh_database(server: PostgresCluster) -> str:
    """The URL of a new, empty database on `server` (the throwaway cluster goes with the session)."""
    name = f"identity_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return server.dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="package", params=BACKENDS)
def cloud(request: pytest.FixtureRequest, cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[RunningCloud]:
    """The server the identity tests talk to, on each metadata backend (`cloud` of tests/conftest.py is
    the session's shared embedded one)."""
    if request.param == "sqlite":
        yield cloud
        return
    url = fresh_database(request.getfixturevalue("postgres_server"))
    running = start_cloud(Path(tmp_path_factory.mktemp("identity-pg")) / "data",
                          extra_env={"STACKBOX_METADATA": url})
    assert not (running.data_dir / "identity.db").exists()  # identity lives in PostgreSQL
    yield running
    running.stop(signal.SIGTERM)


@pytest.fixture(scope="package")
def openstack(cloud: RunningCloud) -> OpenStack:
    """Run the real `openstack` CLI as admin, or as whoever the OS_* keyword overrides name."""

    def run(*args: str, **env: str) -> CliResult:
        done = subprocess.run([str(BIN / "openstack"), *args], env=cloud.cli_env(**env),
                              capture_output=True, text=True, timeout=60)
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="package")
def admin_session(cloud: RunningCloud) -> ks_session.Session:
    return password_session(cloud, "admin", cloud.admin_password)


@pytest.fixture(scope="package")
def admin_token(admin_session: ks_session.Session) -> str:
    return str(admin_session.get_token())


@pytest.fixture(scope="package")
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
