"""Starting a real stackbox server for tests: a subprocess on free loopback ports, own data dir."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_openrc(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            parts = shlex.split(value) if value else [""]
            env[name] = parts[0] if parts else ""
    return env


@dataclass
class RunningCloud:
    data_dir: Path
    identity_port: int
    object_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    admin_env: dict[str, str] = field(default_factory=dict)
    #: What an operator's `stackbox` commands (kms, migrate) need besides --data-dir to reach this
    #: cloud's shared backends (empty for an embedded cloud).
    operator_env: dict[str, str] = field(default_factory=dict)

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.identity_port}/v3"

    @property
    def identity_root(self) -> str:
        return f"http://127.0.0.1:{self.identity_port}"

    @property
    def object_url(self) -> str:
        return f"http://127.0.0.1:{self.object_port}"

    @property
    def admin_password(self) -> str:
        return self.admin_env["OS_PASSWORD"]

    def cli_env(self, **overrides: str) -> dict[str, str]:
        """An environment for the real `openstack`, `swift` and `aws` CLIs, as admin unless overridden."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "AWS_", "ST_"))}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env.update(self.admin_env)
        env.update(overrides)
        return env

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            if sig == signal.SIGKILL:
                # kill -9 the whole process group: supervisor and workers alike.
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_cloud(data_dir: Path, *, workers: int = 2, identity_port: int | None = None,
                object_port: int | None = None, extra_env: dict[str, str] | None = None,
                timeout: float = 60.0, extra_args: Sequence[str] = ()) -> RunningCloud:
    """A stackbox cloud on `data_dir`: one embedded node, or with STACKBOX_TEST_TOPOLOGY=cluster two
    nodes on PostgreSQL + RADOS behind a load balancer (tests/topology.py)."""
    from topology import cluster_topology, start_balanced_cloud

    if cluster_topology():
        return start_balanced_cloud(data_dir, workers=workers, identity_port=identity_port,
                                    object_port=object_port, extra_env=extra_env, timeout=timeout,
                                    extra_args=extra_args)
    return launch_node(data_dir, workers=workers, identity_port=identity_port, object_port=object_port,
                       extra_env=extra_env, timeout=timeout, extra_args=extra_args)


def launch_node(data_dir: Path, *, workers: int = 2, identity_port: int | None = None,
                object_port: int | None = None, extra_env: dict[str, str] | None = None,
                extra_args: Sequence[str] = (), timeout: float = 60.0) -> RunningCloud:
    """One `stackbox serve` process, answering on its ports (`extra_args` are more serve flags)."""
    identity_port = identity_port or free_port()
    object_port = object_port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKBOX_")}
    threads = os.environ.get("STACKBOX_TEST_METADATA_THREADS")
    if threads:  # the suite on the remote-catalog path: metadata calls on that many threads per worker
        env["STACKBOX_METADATA_THREADS"] = threads
    env.update(extra_env or {})
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [str(BIN / "stackbox"), "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1",
             "--identity-port", str(identity_port), "--object-port", str(object_port),
             "--workers", str(workers), *extra_args],
            stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    cloud = RunningCloud(data_dir, identity_port, object_port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"stackbox exited with {process.returncode}:\n{cloud.log()}")
        if answers(f"{cloud.auth_url}") and answers(f"{cloud.object_url}/healthcheck"):
            cloud.admin_env = read_openrc(data_dir / "admin-openrc")
            return cloud
        time.sleep(0.1)
    cloud.stop(signal.SIGKILL)
    raise RuntimeError(f"stackbox did not start in {timeout}s:\n{cloud.log()}")


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
