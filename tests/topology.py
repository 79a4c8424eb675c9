"""The cluster topology of the test suite (`STACKBOX_TEST_TOPOLOGY=cluster`, `make test-cluster`).

Every cloud a test starts is then two `stackbox serve` nodes, each with its own data dir, on one
PostgreSQL database and one RADOS namespace, sharing one cluster key file, behind HAProxy, which
alternates requests between the nodes (round robin, per request even on a kept-alive connection).
Clients get the balancer's ports, so the tests run unchanged. One throwaway PostgreSQL and one
one-node Ceph serve the whole session; each cloud gets a database and a namespace of its own, named
after its data dir, so a cloud restarted on the same data dir finds its data again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from backends.cluster import CephCluster, PostgresCluster, Unavailable, free_port
from cloud import BIN, RunningCloud, launch_node, read_openrc

TOPOLOGY_ENV = "STACKBOX_TEST_TOPOLOGY"
POOL = "stackbox-cloud"
NODES = 2


def cluster_topology() -> bool:
    return os.environ.get(TOPOLOGY_ENV, "") == "cluster"


# -- the backends the nodes share -------------------------------------------------------------------

@dataclass
class Backends:
    """A PostgreSQL server and a RADOS pool: each cloud gets a database and a namespace in them."""

    postgres: PostgresCluster
    ceph_conf: Path
    pool: str
    databases: set[str] = field(default_factory=set)

    def metadata_url(self, name: str) -> str:
        """The URL of database `name`, created when missing."""
        import psycopg

        if name not in self.databases:
            with psycopg.connect(self.postgres.dsn, autocommit=True) as connection:
                query = "SELECT 1 FROM pg_database WHERE datname = %s"
                if connection.execute(query, (name,)).fetchone() is None:
                    connection.execute(f'CREATE DATABASE "{name}"')
            self.databases.add(name)
        return self.postgres.dsn.rsplit("/", 1)[0] + f"/{name}"

    def blobs_url(self, namespace: str) -> str:
        return f"rados://{self.pool}?conf={quote(str(self.ceph_conf))}&id=admin&namespace={namespace}"


@dataclass
class SharedBackends:
    """The cluster topology's one PostgreSQL and one Ceph for the whole session."""

    postgres: PostgresCluster
    ceph: CephCluster
    backends: Backends

    @classmethod
    def start(cls) -> SharedBackends:
        postgres = PostgresCluster.start()
        try:
            ceph = CephCluster.start()
        except BaseException:
            postgres.stop()
            raise
        try:
            ceph.create_pool(POOL)
            ceph.wait_clean()
        except BaseException:
            ceph.stop()
            postgres.stop()
            raise
        return cls(postgres, ceph, Backends(postgres, ceph.conf, POOL))

    def stop(self) -> None:
        self.ceph.stop()
        self.postgres.stop()


_shared: SharedBackends | None = None


def shared_backends() -> SharedBackends:
    """The session's PostgreSQL and Ceph, started by the first caller (tests skip without them)."""
    global _shared
    if _shared is None:
        try:
            import rados  # noqa: F401
        except ImportError:
            pytest.skip("cluster topology: python3-rados is not importable (`make test` installs it)")
        try:
            _shared = SharedBackends.start()
        except Unavailable as missing:
            pytest.skip(f"cluster topology: {missing}")
    return _shared


def stop_shared_backends() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


# -- HAProxy -----------------------------------------------------------------------------------------

def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(path, os.X_OK)), None)
    if found is None:
        raise Unavailable("HAProxy is not installed (`make test` installs Debian's haproxy)")
    return found


#: HAProxy answers a client's `Expect: 100-continue` itself and receives (the start of) the body before
#: a node sees the request: a node that refuses it early (a failed condition, a denial) would
#: otherwise leave botocore reusing its connection without sending the body it announced, which
#: HAProxy then reads the next request as. Only such requests wait: a client that announces a body
#: and waits for the answer without `Expect` (too large: 413) is answered at once.
CONTINUE = "    http-request wait-for-body time 30s if { req.hdr(expect) -m str -i 100-continue }"


def haproxy_config(identity_port: int, object_port: int, nodes: list[tuple[str, int, int]], *,
                   bind: str = "127.0.0.1", tag_responses: bool = False) -> str:
    """The balancer in front of `nodes` ((host, identity port, object port) each), as the README shows it.

    http mode with `balance roundrobin` picks a node for every request, also on a kept-alive client
    connection; a node that refuses connections is retried on the other one (`option redispatch`)
    and taken out until its health check passes again. `tag_responses` names the node that answered
    in an `X-Served-By` response header (for tests that check the alternation itself)."""
    lines = [
        "global",
        "    maxconn 4000",
        # Room for the largest head a node accepts (64 KiB, 256 headers; HAProxy's defaults are 16 KiB and
        # 101 headers, fewer than a Swift object with its 90 metadata items answers with).
        "    tune.bufsize 131072",
        "    tune.http.maxhdr 256",
        "defaults",
        "    mode http",
        "    balance roundrobin",
        "    option redispatch",
        "    retries 3",
        "    timeout connect 5s",
        "    timeout http-request 30s",
        "    timeout http-keep-alive 30s",
        "    timeout client 1m",
        "    timeout server 10m",
    ]
    for service, port, check, which in (("identity", identity_port, "GET /v3", 1),
                                        ("object", object_port, "GET /healthcheck", 2)):
        lines += [f"frontend {service}", f"    bind {bind}:{port}", CONTINUE,
                  f"    default_backend {service}-nodes",
                  f"backend {service}-nodes", f"    option httpchk {check}",
                  "    default-server check inter 1s fall 2 rise 1"]
        lines += [f"    server node{number} {node[0]}:{node[which]}"
                  for number, node in enumerate(nodes, start=1)]
        if tag_responses:
            lines.append("    http-response set-header X-Served-By %s")
    return "\n".join(lines) + "\n"


@dataclass
class Balancer:
    process: subprocess.Popen[bytes]
    config_path: Path

    @classmethod
    def start(cls, root: Path, name: str, identity_port: int, object_port: int, nodes: list[tuple[int, int]],
              *, tag_responses: bool = False) -> Balancer:
        config = root / f"{name}-haproxy.cfg"
        hosts = [("127.0.0.1", identity, obj) for identity, obj in nodes]
        config.write_text(haproxy_config(identity_port, object_port, hosts, tag_responses=tag_responses))
        binary = haproxy_binary()
        checked = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True,
                                 check=False)
        if checked.returncode != 0:
            raise RuntimeError(f"haproxy refused {config}: {checked.stdout}{checked.stderr}")
        with open(root / f"{name}-haproxy.log", "ab") as log:
            process = subprocess.Popen([binary, "-db", "-f", str(config)], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return cls(process, config)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- a cloud of two nodes ------------------------------------------------------------------------------

@dataclass
class BalancedCloud(RunningCloud):
    """A RunningCloud whose ports are the balancer's; `nodes` are the stackbox nodes behind it."""

    nodes: list[RunningCloud] = field(default_factory=list)
    balancer: Balancer | None = None

    def log(self) -> str:
        return "".join(node.log() for node in self.nodes)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for node in self.nodes:
            node.stop(sig)
        if self.balancer is not None:
            self.balancer.stop()


def _name_for(data_dir: Path) -> str:
    return "sb_" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:20]


def node_data_dir(data_dir: Path, number: int) -> Path:
    """Node 1 keeps the data dir the test named (its admin-openrc is where the test looks)."""
    return data_dir if number == 1 else data_dir.with_name(f"{data_dir.name}-node{number}")


def cluster_key_file(data_dir: Path) -> Path:
    """The key file every node of one cloud shares, made as an operator makes it (`stackbox
    cluster-key create`) when this stackbox has that command."""
    path = data_dir.with_name(f"{data_dir.name}-cluster.key")
    if not path.exists():
        subprocess.run([str(BIN / "stackbox"), "cluster-key", "create", str(path)], capture_output=True,
                       check=False)
    return path


def serve_backend_flags() -> set[str]:
    """Which of the shared backends' flags (--metadata, --blobs) `stackbox serve` has."""
    done = subprocess.run([str(BIN / "stackbox"), "serve", "--help"], capture_output=True, text=True,
                          check=False)
    return {flag for flag in ("--metadata", "--blobs") if flag in done.stdout}


def serve_has_shared_backends() -> bool:
    """Whether `stackbox serve` can put nodes on PostgreSQL and RADOS (--metadata and --blobs)."""
    return serve_backend_flags() == {"--metadata", "--blobs"}


def node_options(backends: Backends, data_dir: Path, flags: set[str]) -> tuple[list[str], dict[str, str]]:
    """The serve flags (of `flags`) and environment that put a node on its cloud's database and namespace."""
    name = _name_for(data_dir)
    argv = []
    if "--metadata" in flags:
        argv += ["--metadata", backends.metadata_url(name)]
    if "--blobs" in flags:
        argv += ["--blobs", backends.blobs_url(name)]
    env = {"STACKBOX_CLUSTER_KEY_FILE": str(cluster_key_file(data_dir))} if "--metadata" in flags else {}
    return argv, env


def operator_env(argv: Sequence[str], env: dict[str, str]) -> dict[str, str]:
    """The environment that points `stackbox kms|migrate --data-dir NODE1` at the nodes' database."""
    found = {key: env[key] for key in ("STACKBOX_CLUSTER_KEY_FILE",) if key in env}
    if "--metadata" in argv:
        found["STACKBOX_METADATA"] = argv[list(argv).index("--metadata") + 1]
    return found


def start_balanced_cloud(data_dir: Path, *, workers: int = 2, identity_port: int | None = None,
                         object_port: int | None = None, extra_env: dict[str, str] | None = None,
                         timeout: float = 60.0, backends: Backends | None = None, count: int = NODES,
                         tag_responses: bool = False, extra_args: Sequence[str] = ()) -> BalancedCloud:
    """`count` nodes on `backends` (default: the session's shared ones) behind a new balancer.
    While `stackbox serve` cannot share both metadata and blobs, one node (on what it can share)
    stands behind it."""
    try:
        haproxy_binary()
    except Unavailable as missing:
        pytest.skip(f"cluster topology: {missing}")
    argv: list[str] = []
    env: dict[str, str] = {}
    flags = serve_backend_flags()
    if flags:
        argv, env = node_options(backends or shared_backends().backends, data_dir, flags)
    if flags != {"--metadata", "--blobs"}:
        count = 1
    identity_port = identity_port or free_port()
    object_port = object_port or free_port()
    env.update(extra_env or {})
    env["STACKBOX_PUBLIC_IDENTITY_URL"] = f"http://127.0.0.1:{identity_port}"
    env["STACKBOX_PUBLIC_OBJECT_URL"] = f"http://127.0.0.1:{object_port}"
    nodes: list[RunningCloud] = []
    balancer: Balancer | None = None
    try:
        # One after the other: the first node bootstraps the shared database, the next finds it done.
        for number in range(1, count + 1):
            nodes.append(launch_node(node_data_dir(data_dir, number), workers=workers, extra_env=env,
                                     extra_args=[*argv, *extra_args], timeout=timeout))
        balancer = Balancer.start(data_dir.parent, data_dir.name, identity_port, object_port,
                                  [(node.identity_port, node.object_port) for node in nodes],
                                  tag_responses=tag_responses)
        cloud = BalancedCloud(data_dir, identity_port, object_port, nodes[0].process, nodes[0].log_path,
                              admin_env=read_openrc(data_dir / "admin-openrc"), nodes=nodes,
                              balancer=balancer, operator_env=operator_env(argv, env))
        wait_until(lambda: _all_nodes_in_service(cloud), timeout, "the balancer to reach every node")
    except BaseException:
        for node in nodes:
            node.stop(signal.SIGKILL)
        if balancer is not None:
            balancer.stop()
        raise
    return cloud


def _all_nodes_in_service(cloud: BalancedCloud) -> bool:
    """Each node answers through the balancer: as many consecutive successes as there are nodes."""
    urls = [f"{cloud.object_url}/healthcheck", f"{cloud.auth_url}"]
    return all(_succeeds(url) for url in urls for _ in cloud.nodes)


def _succeeds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return 200 <= response.status < 300
    except OSError:  # refused, reset, or an HTTP error (HAProxy's 503 while no node is in service)
        return False


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
