"""Two stackbox nodes (two `stackbox serve`, separate data dirs) on one PostgreSQL: what one node's
identity API revokes is refused by the other within a second, and housekeeping runs on one node of
the cluster and moves when that node is killed -9."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
import swiftclient
from botocore.config import Config
from botocore.exceptions import ClientError
from keystoneauth1 import session as ks_session
from keystoneclient.v3 import client as ks_client

from backends.cluster import PostgresCluster
from cloud import BIN, RunningCloud, launch_node
from identity.helpers import password_session
from topology import cluster_key_file

pytestmark = pytest.mark.cluster
psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed (`make test` installs it)")

#: What a revocation may take to reach the other node.
PROPAGATION_SECONDS = 1.0


@dataclass
class Nodes:
    first: RunningCloud
    second: RunningCloud
    dsn: str

    def openstack(self, *args: str) -> str:
        """The real `openstack` CLI, as admin, on node 1."""
        done = subprocess.run([str(BIN / "openstack"), *args], env=self.first.cli_env(),
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def admin(self) -> ks_session.Session:
        return password_session(self.first, "admin", self.first.admin_password)


def start_node(root: Path, name: str, dsn: str) -> RunningCloud:
    """A node of the cluster in `root` (its nodes share the key file there)."""
    return launch_node(root / name, extra_args=["--metadata", dsn],
                       extra_env={"STACKBOX_MAINTENANCE_INTERVAL": "1",
                                  "STACKBOX_CLUSTER_KEY_FILE": str(cluster_key_file(root / "nodes"))})


def own_database(postgres_cluster: PostgresCluster) -> str:
    """A database of its own for one pair of nodes: notifications and advisory locks are per database,
    so pairs started by other tests (or left running by a module's fixture) are not in this cluster."""
    name = f"cluster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_cluster.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres_cluster.dsn.rsplit("/", 1)[0] + f"/{name}"


def start_nodes(dsn: str, tmp_path: Path) -> Nodes:
    first = start_node(tmp_path, "node1", dsn)
    try:
        second = start_node(tmp_path, "node2", dsn)
    except BaseException:
        first.stop(signal.SIGKILL)
        raise
    return Nodes(first, second, dsn)


@contextlib.contextmanager
def running(nodes: Nodes) -> Iterator[Nodes]:
    try:
        yield nodes
    finally:
        nodes.second.stop(signal.SIGTERM)
        nodes.first.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def shared_identity(postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Nodes]:
    """Two nodes for the revocation tests (they only add to what the nodes hold)."""
    with running(start_nodes(own_database(postgres_cluster), tmp_path_factory.mktemp("cluster"))) as nodes:
        yield nodes


@pytest.fixture
def nodes(postgres_cluster: PostgresCluster, tmp_path: Path) -> Iterator[Nodes]:
    """Two nodes of the test's own (it may kill one)."""
    with running(start_nodes(own_database(postgres_cluster), tmp_path)) as started:
        yield started


def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    """Seconds until `condition` held (polled as fast as it answers); fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not after {timeout} s"
        time.sleep(0.01)
    return time.monotonic() - start


def s3_client(node: RunningCloud, access: str, secret: str) -> object:
    return boto3.client("s3", endpoint_url=node.object_url, aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))


# -- revocations -------------------------------------------------------------------------------

def test_an_ec2_pair_deleted_on_node_1_is_refused_by_node_2_within_a_second(shared_identity: Nodes) -> None:
    nodes = shared_identity
    pair = json.loads(nodes.openstack("ec2", "credentials", "create", "-f", "json"))
    s3 = s3_client(nodes.second, pair["access"], pair["secret"])
    s3.list_buckets()  # type: ignore[attr-defined]  # node 2 has it cached now
    s3.list_buckets()  # type: ignore[attr-defined]

    nodes.openstack("ec2", "credentials", "delete", pair["access"])
    refused_after = until(lambda: _s3_refused(s3, "InvalidAccessKeyId"), "node 2 refuses the pair")
    assert refused_after < PROPAGATION_SECONDS


def _s3_refused(s3: object, code: str) -> bool:
    try:
        s3.list_buckets()  # type: ignore[attr-defined]
    except ClientError as error:
        assert error.response["Error"]["Code"] == code
        return True
    return False


def _swift_refused(node: RunningCloud, project_id: str, token: str) -> bool:
    try:
        swiftclient.head_account(f"{node.object_url}/v1/AUTH_{project_id}", token)
    except swiftclient.ClientException as error:
        assert error.http_status == 401
        return True
    return False


def test_a_token_revoked_on_node_1_is_refused_by_node_2_within_a_second(shared_identity: Nodes) -> None:
    nodes = shared_identity
    session = nodes.admin()
    token, project_id = session.get_token(), session.get_project_id()
    assert not _swift_refused(nodes.second, project_id, token)

    nodes.openstack("token", "revoke", token)
    assert until(lambda: _swift_refused(nodes.second, project_id, token),
                 "node 2 refuses the token") < PROPAGATION_SECONDS


def test_a_user_disabled_on_node_1_is_refused_by_node_2_within_a_second(shared_identity: Nodes) -> None:
    nodes = shared_identity
    keystone = ks_client.Client(session=nodes.admin(), interface="public")
    project = keystone.projects.create(f"p-{uuid.uuid4().hex[:8]}", "default")
    name, password = f"u-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    user = keystone.users.create(name, domain="default", password=password)
    keystone.roles.grant(keystone.roles.find(name="member"), user=user, project=project)
    token = password_session(nodes.second, name, password, project.name).get_token()
    assert not _swift_refused(nodes.second, project.id, token)
    assert not _swift_refused(nodes.second, project.id, token)

    nodes.openstack("user", "set", "--disable", user.id)
    assert until(lambda: _swift_refused(nodes.second, project.id, token),
                 "node 2 refuses the disabled user's token") < PROPAGATION_SECONDS


def test_a_container_acl_removed_on_node_1_is_enforced_by_node_2_within_a_second(
        shared_identity: Nodes) -> None:
    """The metadata caches (container ACLs here; policies, CORS, lifecycle rules, quotas alike)."""
    nodes = shared_identity
    session = nodes.admin()
    account = f"AUTH_{session.get_project_id()}"
    name = f"shared-{uuid.uuid4().hex[:8]}"
    writer = swiftclient.Connection(preauthurl=f"{nodes.first.object_url}/v1/{account}",
                                    preauthtoken=session.get_token())
    writer.put_container(name, headers={"X-Container-Read": ".r:*,.rlistings"})
    anonymous_listing = f"{nodes.second.object_url}/v1/{account}/{name}"

    def anonymous_status() -> int:
        return requests.get(anonymous_listing, timeout=30).status_code

    assert anonymous_status() == 204
    assert anonymous_status() == 204  # node 2 has the container's metadata cached now

    writer.post_container(name, headers={"X-Container-Read": ""})
    assert until(lambda: anonymous_status() == 401, "node 2 refuses the anonymous listing") < 1.0


def test_after_its_listener_connection_is_cut_a_node_still_refuses_what_was_revoked(
        shared_identity: Nodes) -> None:
    nodes = shared_identity
    pair = json.loads(nodes.openstack("ec2", "credentials", "create", "-f", "json"))
    s3 = s3_client(nodes.second, pair["access"], pair["secret"])
    s3.list_buckets()  # type: ignore[attr-defined]
    with psycopg.connect(nodes.dsn, autocommit=True) as admin:
        listeners = _backends_of(admin, nodes.second, "listener")
        assert len(listeners) == 1
        admin.execute("SELECT pg_terminate_backend(%s)", (listeners[0],))
        # Deleted while node 2 may not be listening: its reconnection must not trust what it cached.
        nodes.openstack("ec2", "credentials", "delete", pair["access"])
        assert until(lambda: _s3_refused(s3, "InvalidAccessKeyId"), "node 2 refuses the pair") < 1.0
        until(lambda: len(_backends_of(admin, nodes.second, "listener")) == 1, "node 2 listens again")


def test_a_killed_listener_process_is_replaced_and_nothing_stale_is_served_meanwhile(
        shared_identity: Nodes) -> None:
    nodes = shared_identity
    pair = json.loads(nodes.openstack("ec2", "credentials", "create", "-f", "json"))
    s3 = s3_client(nodes.second, pair["access"], pair["secret"])
    s3.list_buckets()  # type: ignore[attr-defined]
    with psycopg.connect(nodes.dsn, autocommit=True) as admin:
        listener = _processes_of(admin, nodes.second, "listener")
        assert len(listener) == 1
        os.kill(listener[0], signal.SIGKILL)
        nodes.openstack("ec2", "credentials", "delete", pair["access"])
        assert until(lambda: _s3_refused(s3, "InvalidAccessKeyId"), "node 2 refuses the pair") < 1.0
        until(lambda: len(_processes_of(admin, nodes.second, "listener")) == 1
              and _processes_of(admin, nodes.second, "listener") != listener, "node 2 has a new listener")


# -- housekeeping ------------------------------------------------------------------------------

def _connections_of(admin: psycopg.Connection, node: RunningCloud, purpose: str) -> list[tuple[int, int]]:
    """(backend pid, process id) of `node`'s connections for `purpose` (their application_name ends
    with the pid of the worker or listener that opened them, a child of the node's supervisor)."""
    rows = admin.execute("SELECT pid, application_name FROM pg_stat_activity WHERE application_name LIKE %s",
                         (f"stackbox {purpose} %",)).fetchall()
    found = [(int(pid), int(name.rsplit(" ", 1)[1])) for pid, name in rows]
    return [(backend, process) for backend, process in found if _parent_of(process) == node.process.pid]


def _backends_of(admin: psycopg.Connection, node: RunningCloud, purpose: str) -> list[int]:
    return [backend for backend, _ in _connections_of(admin, node, purpose)]


def _processes_of(admin: psycopg.Connection, node: RunningCloud, purpose: str) -> list[int]:
    return [process for _, process in _connections_of(admin, node, purpose)]


def _parent_of(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))


def _lease_holder(admin: psycopg.Connection, nodes: Nodes) -> RunningCloud | None:
    rows = admin.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted").fetchall()
    holders = {int(row[0]) for row in rows}
    found = [node for node in (nodes.first, nodes.second)
             if holders & set(_backends_of(admin, node, "housekeeping"))]
    assert len(found) <= 1, "both nodes hold the housekeeping lease"
    return found[0] if found else None


def test_housekeeping_runs_on_one_node_and_moves_when_it_is_killed(nodes: Nodes) -> None:
    with psycopg.connect(nodes.dsn, autocommit=True) as admin:
        holder: list[RunningCloud | None] = [None]

        def held() -> bool:
            holder[0] = _lease_holder(admin, nodes)
            return holder[0] is not None

        until(held, "a node takes the housekeeping lease")
        first = holder[0]
        assert first is not None
        other = nodes.second if first is nodes.first else nodes.first
        # Both nodes keep asking each interval: the lease stays where it is.
        time.sleep(3)
        assert _lease_holder(admin, nodes) is first
        first.stop(signal.SIGKILL)
        moved_after = until(lambda: _lease_holder(admin, nodes) is other, "the other node takes over")
        assert moved_after < 10  # about one interval (1 s) once the server has seen the session end
