"""Instructions per S3 request of the whole server (HTTP layer, signature, authorizer, handler, store),
counted by valgrind's cachegrind: a measure that does not move with the machine's load, to compare two
versions of the code where ops/s on a shared 2-core machine cannot tell 5% apart.

    .venv/bin/python bench/instructions.py                                  # this checkout
    .venv/bin/python bench/instructions.py --src /tmp/old/src --src src --src src@20
    # (an older version: git archive <commit> src | tar -x -C /tmp/old; `@20`: that tree's bucket has
    # bench/run.py's policy of 20 statements)

For each source tree: a data dir is prepared by a real server of that tree (an EC2 pair, a bucket, 4 KiB
objects; with `@N`, bench/run.py's bucket policy of N statements), then for each operation one
`stackbox serve --workers 1` runs under cachegrind twice, answering 2 warm-up requests and then 0 or N
requests (signed just before they are sent, on one keep-alive connection); the difference of the
processes' instruction counts divided by N is the cost of one request. Needs valgrind (Debian package).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import run as bench  # noqa: E402

BIN = Path(sys.executable).parent
BUCKET = "bench"
BODY = b"x" * 4096
WARM_UP = 2


@dataclass
class Prepared:
    data_dir: Path
    access: str
    secret: str
    keys: int
    doomed: int


def prepare(src: Path, root: Path, policy: int, keys: int, doomed: int) -> Prepared:
    """A data dir written by `src`'s own server: an EC2 pair, a bucket, `keys` objects to read and
    overwrite, `doomed` objects to delete."""
    import keystoneauth1.identity.v3 as v3
    from keystoneauth1.session import Session

    from cloud import start_cloud

    os.environ["PYTHONPATH"] = str(src)
    data_dir = root / "data"
    cloud = start_cloud(data_dir, workers=1, timeout=120)
    try:
        auth = v3.Password(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                           project_name="admin", user_domain_id="default", project_domain_id="default")
        session = Session(auth=auth)
        pair = session.post(f"{cloud.auth_url}/users/{session.get_user_id()}/credentials/OS-EC2",
                            json={"tenant_id": session.get_project_id()}).json()["credential"]
        target = bench.Target("stackbox", "127.0.0.1", cloud.object_port, pair["access"], pair["secret"],
                              "", "")
        bench.make_bucket(target, BUCKET, False)
        if policy:
            bench.expect(target, bench.s3_raw(target, "PUT", f"/{BUCKET}", "policy=",
                                              bench.bench_policy(BUCKET, policy)), (204,))
        names = [f"small/{i:06d}" for i in range(keys)] + [f"doomed/{i:06d}" for i in range(doomed)]
        bench.create_all(target, lambda i: bench.s3_raw(target, "PUT", f"/{BUCKET}/{names[i]}", body=BODY),
                         len(names))
    finally:
        cloud.stop()
    return Prepared(data_dir, pair["access"], pair["secret"], keys, doomed)


def signed(prepared: Prepared, method: str, key: str, host: str, body: bytes) -> bytes:
    url = f"http://{host}/{BUCKET}/{key}"
    request = AWSRequest(method=method, url=url, data=body)
    S3SigV4Auth(Credentials(prepared.access, prepared.secret), "s3", "us-east-1").add_auth(request)
    lines = [f"{method} /{BUCKET}/{key} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items() if name.lower() != "host"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def exchange(sock: socket.socket, raw: bytes, head_only: bool) -> int:
    sock.sendall(raw)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while not head_only and len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1])


def serve_counted(src: Path, prepared: Prepared, requests: list[tuple[str, str, bytes]], work: Path) -> int:
    """Instructions of a one-worker server (all its processes) that answered `requests`."""
    out = Path(tempfile.mkdtemp(dir=work, prefix="cachegrind-"))
    identity_port, object_port = bench_free_port(), bench_free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKBOX_")}
    env.update(PYTHONPATH=str(src), STACKBOX_MAINTENANCE_INTERVAL="3600")
    with open(out / "server.log", "wb") as log:
        server = subprocess.Popen(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
             f"--cachegrind-out-file={out}/cg.%p", str(BIN / "python"), str(BIN / "stackbox"), "serve",
             "--data-dir", str(prepared.data_dir), "--host", "127.0.0.1",
             "--identity-port", str(identity_port), "--object-port", str(object_port), "--workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        host = f"127.0.0.1:{object_port}"
        wait_ready(object_port, server)
        with socket.create_connection(("127.0.0.1", object_port), timeout=300) as sock:
            for method, key, body in requests:
                status = exchange(sock, signed(prepared, method, key, host, body), head_only=method == "HEAD")
                if status not in (200, 204):
                    raise RuntimeError(f"{method} {key}: HTTP {status}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=600)
    total = 0
    for path in out.glob("cg.*"):
        total += next(int(line.split()[1]) for line in path.read_text().splitlines()
                      if line.startswith("summary:"))
    shutil.rmtree(out)
    return total


def bench_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                if exchange(sock, b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n", head_only=False) == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError("the server did not answer")


def operation_requests(op: str, start: int, count: int) -> list[tuple[str, str, bytes]]:
    """`count` requests of `op`; DELETEs name fresh doomed keys from `start` on."""
    if op == "DELETE":
        return [("DELETE", f"doomed/{i:06d}", b"") for i in range(start, start + count)]
    body = BODY if op == "PUT" else b""
    return [(op, f"small/{i % 1000:06d}", body) for i in range(count)]


def per_request(src: Path, prepared: Prepared, op: str, count: int, work: Path) -> float:
    """(instructions with WARM_UP + count requests - with WARM_UP requests) / count."""
    empty = serve_counted(src, prepared, operation_requests(op, 0, WARM_UP), work)
    full = serve_counted(src, prepared, operation_requests(op, WARM_UP, WARM_UP + count), work)
    return (full - empty) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append",
                        help="a source tree (its src/ directory), PATH or PATH@N for a bucket policy of N "
                             "statements; repeat to compare (default: this checkout)")
    parser.add_argument("--ops", default="HEAD,GET,PUT,DELETE")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind is needed: apt-get install valgrind", file=sys.stderr)
        return 2
    trees = args.src or [str(HERE.parent / "src")]
    ops = args.ops.split(",")
    work = Path(tempfile.mkdtemp(prefix="stackbox-instructions-"))
    counts: dict[tuple[str, str], float] = {}
    try:
        for index, tree in enumerate(trees):
            path, _, policy = tree.partition("@")
            src = Path(path).resolve()
            prepared = prepare(src, work / f"tree{index}", int(policy or 0), keys=1000,
                               doomed=2 * WARM_UP + args.requests)
            for op in ops:
                counts[tree, op] = per_request(src, prepared, op, args.requests, work)
                print(f"{tree}: {op} {counts[tree, op]:,.0f} instructions", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"Instructions per request, whole server (1 worker, {args.requests} requests; @N: a bucket policy "
          "of N statements)")
    print("| tree | " + " | ".join(ops) + " |")
    print("|" + "---|" * (len(ops) + 1))
    for tree in trees:
        cells = [f"{counts[tree, op]:,.0f}" + (f" ({counts[tree, op] / counts[trees[0], op]:.3f}x)"
                                               if tree != trees[0] else "") for op in ops]
        print(f"| {tree} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
