"""Throwaway database and object-store clusters for the scale-out backends' tests and benchmarks.

`PostgresCluster` is a PostgreSQL server in a temp dir (fsync off) on a free loopback port, its
`stackbox` superuser with a generated password;
`CephCluster` is a one-node Ceph cluster on loopback: one mon, one mgr and one bluestore OSD on a
sparse file (memstore's space accounting overflows, so it cannot be used), pools of size 1, cephx
with generated keys;
`RadosGateway` is Ceph's own S3 gateway (radosgw, beast frontend) on such a cluster, on a free
loopback port, with one S3 user (the peer of bench/scaleout.py).
Both run their daemons in the foreground as our children, remember exactly those processes and
stop them (and only them) in `stop`. `python tests/backends/cluster.py ceph|postgres|radosgw` starts
one by hand and keeps it up until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

RADOSGW_BINARIES = ("radosgw", "radosgw-admin")
CEPH_BINARIES = ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "monmaptool", "ceph-authtool")
#: How long a cluster may take to become usable before the fixture gives up.
START_TIMEOUT = 120.0


class Unavailable(Exception):
    """The binaries a cluster needs are missing: its tests skip with this reason."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _terminate_with_parent() -> None:
    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Daemons:
    """The daemon processes one cluster started, stopped in the reverse order."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, argv: Sequence[str], log: Path, user: str | None = None) -> subprocess.Popen[bytes]:
        with open(log, "ab") as output:
            # A session of their own (a Ctrl-C reaches us, and we stop them in order), and a
            # SIGTERM from the kernel should we die without stopping them (no stray daemons).
            process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, user=user, start_new_session=True,
                                       preexec_fn=_terminate_with_parent)
        self.processes.append(process)
        return process

    def find(self, program: str) -> subprocess.Popen[bytes]:
        return next(process for process in self.processes if Path(str(process.args[0])).name == program)

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")

    def stop(self, signum: int = signal.SIGTERM, grace: float = 30.0) -> None:
        while self.processes:
            process = self.processes.pop()
            if process.poll() is None:
                process.send_signal(signum)
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_until(ready: Callable[[], bool], what: str, daemons: Daemons) -> None:
    timeout = START_TIMEOUT
    deadline = time.monotonic() + timeout
    while not ready():
        daemons.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.25)


def _run(argv: Sequence[str], timeout: float = 60.0, user: str | None = None) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, user=user, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


# -- PostgreSQL ---------------------------------------------------------------------------------

def postgres_bin_dir() -> Path:
    """Where initdb and postgres are: on PATH, else Debian's /usr/lib/postgresql/<newest>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres", path=str(Path(on_path).resolve().parent)):
        return Path(on_path).resolve().parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                    key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    raise Unavailable("PostgreSQL is not installed (no initdb/postgres; `make test` installs Debian's "
                      "postgresql)")


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` (or `nobody`) user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise Unavailable("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


@dataclass
class PostgresCluster:
    root: Path
    port: int = 0
    user: str | None = None
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    daemons: Daemons = field(default_factory=Daemons)
    bin_dir: Path = Path("/nonexistent")

    @property
    def dsn(self) -> str:
        return f"postgresql://stackbox:{self.password}@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, root: Path | None = None, durable: bool = False) -> PostgresCluster:
        """`durable`: PostgreSQL's own fsync and commit settings (for benchmarks), instead of the
        tests' fsync off."""
        bin_dir = postgres_bin_dir()
        cluster = cls(root or Path(tempfile.mkdtemp(prefix="stackbox-pg-")), free_port(), _postgres_user())
        try:
            cluster._start(bin_dir, durable)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start(self, bin_dir: Path, durable: bool) -> None:
        self.bin_dir = bin_dir
        data = self.root / "data"
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "stackbox", "--auth=scram-sha-256",
                  f"--pwfile={password_file}", "-E", "UTF8", "--no-sync", "--no-instructions"],
                 user=self.user)
        finally:
            password_file.unlink()
        settings = {"listen_addresses": "127.0.0.1", "port": str(self.port),
                    "unix_socket_directories": str(self.root), "max_connections": "200",
                    "shared_buffers": "64MB"}
        if not durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        argv = [str(bin_dir / "postgres"), "-D", str(data)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        self.daemons.spawn(argv, self.root / "postgres.log", user=self.user)
        _wait_until(self._accepts, "PostgreSQL", self.daemons)

    def _accepts(self) -> bool:
        probe = [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        ready = subprocess.run(probe, check=False, timeout=10)
        return ready.returncode == 0

    def stop(self) -> None:
        self.daemons.stop(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        shutil.rmtree(self.root, ignore_errors=True)


# -- Ceph ---------------------------------------------------------------------------------------

def check_ceph_installed() -> None:
    missing = [name for name in CEPH_BINARIES if shutil.which(name) is None]
    if missing:
        raise Unavailable(f"Ceph is not installed (missing {', '.join(missing)}; `make test` installs "
                          "Debian's ceph-mon ceph-mgr ceph-osd python3-rados)")


def _ceph_conf(root: Path, fsid: str, mon_port: int) -> str:
    return f"""[global]
fsid = {fsid}
mon_host = v2:127.0.0.1:{mon_port}
public_addr = 127.0.0.1
ms_bind_ipv4 = true
ms_bind_ipv6 = false
ms_tcp_nodelay = true
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = {root}/keyring
run_dir = {root}/run
admin_socket = {root}/run/$name.asok
pid_file = {root}/run/$name.pid
log_file = {root}/log/$name.log
mon_cluster_log_file = {root}/log/cluster.log
crash_dir = {root}/crash
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
# Pools keep the placement groups they were made with (the autoscaler would split or merge them
# under a running test or benchmark).
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
mon_data_avail_crit = 0
auth_allow_insecure_global_id_reclaim = false
mon_data = {root}/mon/$cluster-$id
mgr_data = {root}/mgr/$cluster-$id
osd_data = {root}/osd/$cluster-$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = {16 << 30}
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
osd_memory_target = {1 << 30}
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
mgr_initial_modules =
mon_pg_warn_min_per_osd = 0
# Small enough that tests can provoke a failing write (the default is 90 MiB), above any stripe we use.
osd_max_write_size = 8
"""


@dataclass
class CephCluster:
    root: Path
    daemons: Daemons = field(default_factory=Daemons)

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @classmethod
    def start(cls, root: Path | None = None) -> CephCluster:
        check_ceph_installed()
        cluster = cls(root or Path(tempfile.mkdtemp(prefix="stackbox-ceph-")))
        try:
            cluster._start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def ceph(self, *args: str, timeout: float = 60.0) -> str:
        return _run(["ceph", "-c", str(self.conf), "--connect-timeout", "20", *args], timeout=timeout)

    def create_pool(self, name: str, pg_num: int = 8, application: str = "stackbox") -> None:
        self.ceph("osd", "pool", "create", name, str(pg_num))
        self.ceph("osd", "pool", "application", "enable", name, application)

    def _start(self) -> None:
        fsid = str(uuid.uuid4())
        for directory in ("run", "log", "crash", "mon/ceph-a", "mgr/ceph-x", "osd/ceph-0"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        mon_port = free_port()
        self.conf.write_text(_ceph_conf(self.root, fsid, mon_port))
        conf = ["-c", str(self.conf)]
        monmap = self.root / "monmap"
        _run(["monmaptool", "--create", "--fsid", fsid, "--addv", "a", f"[v2:127.0.0.1:{mon_port}]",
              str(monmap)])
        self._make_keyring()
        _run(["ceph-mon", *conf, "--mkfs", "-i", "a", "--monmap", str(monmap),
              "--keyring", str(self.keyring)])
        self.daemons.spawn(["ceph-mon", *conf, "-f", "-i", "a"], self.root / "log" / "mon.out")
        osd_uuid = str(uuid.uuid4())
        osd_id = self.ceph("osd", "new", osd_uuid).strip()
        _run(["ceph-osd", *conf, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid], timeout=120)
        self.daemons.spawn(["ceph-mgr", *conf, "-f", "-i", "x"], self.root / "log" / "mgr.out")
        self.daemons.spawn(["ceph-osd", *conf, "-f", "-i", osd_id], self.root / "log" / "osd.out")
        _wait_until(self._healthy, "Ceph (HEALTH_OK)", self.daemons)

    @property
    def keyring(self) -> Path:
        return self.root / "keyring"

    def _make_keyring(self) -> None:
        """One keyring with a generated key for every daemon and the admin (the monitor imports
        them, with their capabilities, when it is created)."""
        entities = {
            "mon.": ["mon", "allow *"],
            "client.admin": ["mon", "allow *", "osd", "allow *", "mgr", "allow *", "mds", "allow *"],
            "mgr.x": ["mon", "allow profile mgr", "osd", "allow *", "mds", "allow *"],
            "osd.0": ["mon", "allow profile osd", "mgr", "allow profile osd", "osd", "allow *"],
        }
        for number, (name, caps) in enumerate(entities.items()):
            create = ["--create-keyring"] if number == 0 else []
            cap_args = [arg for service, cap in zip(caps[::2], caps[1::2], strict=True)
                        for arg in ("--cap", service, cap)]
            _run(["ceph-authtool", *create, str(self.keyring), "--gen-key", "-n", name, *cap_args])
        self.keyring.chmod(0o600)

    def add_client(self, name: str, *caps: str) -> Path:
        """A cephx user with these capabilities (`mon`, "allow r", `osd`, ...): returns a conf file
        that connects as it, with its own keyring."""
        keyring = self.root / f"client.{name}.keyring"
        self.ceph("auth", "get-or-create", f"client.{name}", *caps, "-o", str(keyring))
        conf = self.root / f"client.{name}.conf"
        conf.write_text(self.conf.read_text().replace(f"keyring = {self.keyring}", f"keyring = {keyring}"))
        return conf

    def _healthy(self) -> bool:
        try:
            status = json.loads(self.ceph("status", "--format", "json", timeout=30))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError):
            return False
        return bool(status["health"]["status"] == "HEALTH_OK" and status["osdmap"]["num_up_osds"] == 1
                    and status["mgrmap"]["available"])

    def wait_clean(self) -> None:
        """Wait until every placement group is active+clean (after creating pools)."""
        def clean() -> bool:
            summary = json.loads(self.ceph("pg", "stat", "--format", "json"))
            states = summary.get("pg_summary", summary).get("num_pg_by_state", [])
            total = sum(state["num"] for state in states)
            return total > 0 and all(state["name"] == "active+clean" for state in states)
        _wait_until(clean, "Ceph placement groups", self.daemons)

    def stop(self) -> None:
        self.daemons.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# -- radosgw ------------------------------------------------------------------------------------

#: The pools a default zone's radosgw uses, created up front (size 1, as every pool here) so that
#: its start does not wait on placement groups it creates itself one by one.
RGW_POOLS = (".rgw.root", "default.rgw.control", "default.rgw.meta", "default.rgw.log",
             "default.rgw.buckets.index", "default.rgw.buckets.data", "default.rgw.buckets.non-ec")


@dataclass
class RadosGateway:
    """radosgw serving S3 on 127.0.0.1:`port` from `cluster`, with one user (`access_key`,
    `secret_key`); `stop` ends the daemon only (the cluster and its pools stay)."""

    cluster: CephCluster
    port: int
    access_key: str = field(default_factory=lambda: secrets.token_hex(10).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    daemons: Daemons = field(default_factory=Daemons)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        """Its cephx user and conf section (one per gateway: several may share a cluster)."""
        return f"rgw.gateway-{self.port}"

    @property
    def log(self) -> Path:
        return self.cluster.root / "log" / f"{self.name}.out"

    @classmethod
    def start(cls, cluster: CephCluster, options: dict[str, str] | None = None) -> RadosGateway:
        """Start radosgw (extra `options` go to its conf section) and make its user; waits at most
        START_TIMEOUT, then raises with the end of its log."""
        missing = [name for name in RADOSGW_BINARIES if shutil.which(name) is None]
        if missing:
            raise Unavailable(f"radosgw is not installed (missing {', '.join(missing)}; "
                              "`make test` installs Debian's radosgw)")
        gateway = cls(cluster, free_port())
        try:
            gateway._start(options or {})
        except BaseException as error:
            gateway.stop()
            if isinstance(error, (RuntimeError, TimeoutError)):
                raise RuntimeError(f"radosgw did not start: {error}\n{gateway.log_tail()}") from error
            raise
        return gateway

    def _start(self, options: dict[str, str]) -> None:
        existing = self.cluster.ceph("osd", "pool", "ls").split()
        for pool in RGW_POOLS:
            if pool not in existing:
                self.cluster.create_pool(pool, application="rgw")
        self.cluster.wait_clean()
        conf = self.cluster.add_client(self.name, "mon", "allow rw", "osd", "allow rwx", "mgr", "allow rw")
        data = self.cluster.root / "rgw"
        data.mkdir(exist_ok=True)
        section = {"rgw_frontends": f"beast endpoint=127.0.0.1:{self.port}", "rgw_data": str(data),
                   **options}
        with open(conf, "a") as handle:
            handle.write(f"\n[client.{self.name}]\n")
            handle.writelines(f"{name} = {value}\n" for name, value in section.items())
        self.daemons.spawn(["radosgw", "-f", "-c", str(conf), "-n", f"client.{self.name}"], self.log)
        _wait_until(self._answers, "radosgw", self.daemons)
        _run(["radosgw-admin", "-c", str(self.cluster.conf), "user", "create", "--uid", self.name,
              "--display-name", self.name, "--access-key", self.access_key, "--secret", self.secret_key])

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
                connection.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return connection.recv(16).startswith(b"HTTP/1.1 ")
        except OSError:
            return False

    def log_tail(self, lines: int = 20) -> str:
        """The end of its output and of its own log file."""
        tails = []
        for path in (self.log, self.cluster.root / "log" / f"client.{self.name}.log"):
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                tails.append(f"{path}:\n" + "\n".join(line for line in tail if line))
        return "\n".join(tails) or "(no radosgw log)"

    def stop(self) -> None:
        self.daemons.stop()


def main(argv: list[str]) -> int:
    kind = argv[1] if len(argv) > 1 else "ceph"
    began = time.monotonic()
    cluster: CephCluster | PostgresCluster
    cluster = PostgresCluster.start() if kind == "postgres" else CephCluster.start()
    print(f"{kind} ready in {time.monotonic() - began:.1f} s: {cluster.root}", flush=True)
    gateway = None
    try:
        if isinstance(cluster, CephCluster):
            print(cluster.ceph("-s"), flush=True)
            if kind == "radosgw":
                gateway = RadosGateway.start(cluster)
                print(f"radosgw: {gateway.endpoint} access key {gateway.access_key} "
                      f"secret key {gateway.secret_key}", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        if gateway is not None:
            gateway.stop()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
