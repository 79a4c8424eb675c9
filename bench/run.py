"""Object-store benchmark: stackbox against the reference Swift + s3api, same generator, same run.

    make bench                       # or: .venv/bin/python bench/run.py --repeats 3 --duration 5
    .venv/bin/python bench/run.py --phases small,list --targets stackbox
    .venv/bin/python bench/run.py --phases versioned,versions-list   # versioned buckets (issue 8)
    .venv/bin/python bench/run.py --phases large-sse --targets stackbox  # SSE-S3 vs plaintext (issue 11)

Small-object phases replay pre-built, pre-signed requests with wrk (every S3 request carries its own
SigV4 signature, computed before the clock starts; the server checks every one); HEADs, and DELETEs sent
exactly once per existing key, go through pyreplay.py (uvloop), since wrk cannot do either.
Large-object phases use one Python stream each, with bodies and signatures prepared in advance.
Servers are interleaved phase by phase over the repeats; the report gives medians and the
stackbox/reference ratio.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

RECORD_MARK = b"\n--stackbox-bench-record--\n"
SMALL = 4096
LARGE = 64 << 20
MULTIPART = 256 << 20
PART = 8 << 20


@dataclass
class Target:
    name: str
    host: str
    port: int
    access: str
    secret: str
    swift_account_url: str
    token: str
    region: str = "us-east-1"
    stop: Callable[[], None] | None = None
    supervisor_pid: int | None = None
    #: requests answered with an error status during timed runs (not counted in ops/s)
    failures: int = 0
    failed_phases: list[str] = field(default_factory=list)
    #: distinct objects created (untimed) and then deleted once each by the DELETE phases
    delete_batch: int = 4000
    results: dict[str, list[float]] = field(default_factory=dict)
    #: buckets a phase has filled already (its set-up is not repeated)
    prepared: set[str] = field(default_factory=set)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def record(self, phase: str, value: float) -> None:
        self.results.setdefault(phase, []).append(value)


# ---------------------------------------------------------------- request building

class UnsignedPayloadAuth(S3SigV4Auth):
    """SigV4 with `UNSIGNED-PAYLOAD` (botocore always hashes the payload over plain HTTP)."""

    def payload(self, request: AWSRequest) -> str:
        return "UNSIGNED-PAYLOAD"


def sign_s3(target: Target, method: str, path: str, query: str = "", body: bytes = b"",
            headers: dict[str, str] | None = None, unsigned_payload: bool = False) -> dict[str, str]:
    url = f"{target.endpoint}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = UnsignedPayloadAuth if unsigned_payload else S3SigV4Auth
    signer(Credentials(target.access, target.secret), "s3", target.region).add_auth(request)
    return dict(request.headers.items())


def raw_request(target: Target, method: str, path: str, query: str, headers: dict[str, str],
                body: bytes = b"", content_length: int | None = None) -> bytes:
    """The request's bytes; with `content_length`, only the head (the caller streams the body)."""
    target_line = path + (f"?{query}" if query else "")
    lines = [f"{method} {target_line} HTTP/1.1", f"Host: {target.host}:{target.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
    lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def s3_raw(target: Target, method: str, path: str, query: str = "", body: bytes = b"") -> bytes:
    headers = sign_s3(target, method, path, query, body)
    return raw_request(target, method, path, query, headers, body)


def swift_raw(target: Target, method: str, path: str, query: str = "", body: bytes = b"") -> bytes:
    account_path = urlsplit(target.swift_account_url).path
    return raw_request(target, method, f"{account_path}{path}", query, {"X-Auth-Token": target.token}, body)


# ---------------------------------------------------------------- wrk

def run_wrk(target: Target, records: list[bytes], connections: int, duration: float) -> dict[str, float]:
    """Replay `records` for `duration` seconds on `connections` connections; HEADs go to pyreplay.py."""
    with tempfile.NamedTemporaryFile("wb", suffix=".reqs", delete=False) as handle:
        for record in records:
            handle.write(record + RECORD_MARK)
        path = handle.name
    if records[0].startswith(b"HEAD "):
        try:
            return run_pyreplay(target, path, connections, duration)
        finally:
            os.unlink(path)
    try:
        threads = 1 if connections < 32 else 2
        command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
                   "--timeout", "10s", "-s", str(HERE / "replay.lua"), target.endpoint, "--", path]
        output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True)
    finally:
        os.unlink(path)
    summary = json.loads(output.stdout.strip().splitlines()[-1])
    errors = sum(summary[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors",
                                      "timeouts"))
    if errors > summary["requests"] // 2:
        raise RuntimeError(f"{target.name}: {errors} failed requests in wrk run: {summary}")
    target.failures += errors
    # only answers with a success status count
    return {"ops": (summary["requests"] - errors) / (summary["duration_us"] / 1e6),
            "p50_ms": summary["p50_us"] / 1000, "p99_ms": summary["p99_us"] / 1000}


def run_pyreplay(target: Target, path: str, connections: int, duration: float,
                 once: bool = False) -> dict[str, float]:
    command = [sys.executable, str(HERE / "pyreplay.py"), target.host, str(target.port), str(connections),
               str(duration), path, *(["--once"] if once else [])]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 300, check=True)
    summary = json.loads(output.stdout.strip().splitlines()[-1])
    if summary["failed"] > summary["requests"]:
        raise RuntimeError(f"{target.name}: {summary['failed']} failed requests in pyreplay run")
    target.failures += summary["failed"]
    return {"ops": summary["ops"]}


def run_once(target: Target, records: list[bytes], connections: int) -> dict[str, float]:
    """Send every record exactly once (DELETEs of distinct existing keys)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".reqs", delete=False) as handle:
        for record in records:
            handle.write(record + RECORD_MARK)
        path = handle.name
    try:
        return run_pyreplay(target, path, connections, 0, once=True)
    finally:
        os.unlink(path)


# ---------------------------------------------------------------- plain HTTP helpers

def send(target: Target, raw: bytes, read_body: bool = True) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(target.host, target.port, timeout=120)
    try:
        conn.sock = None
        conn.connect()
        assert conn.sock is not None
        conn.sock.sendall(raw)
        response = http.client.HTTPResponse(conn.sock, method=raw.split(b" ", 1)[0].decode())
        response.begin()
        body = response.read() if read_body else b""
        return response.status, body
    finally:
        conn.close()


def expect(target: Target, raw: bytes, statuses: tuple[int, ...] = (200, 201, 204)) -> bytes:
    status, body = send(target, raw)
    if status not in statuses:
        raise RuntimeError(f"{target.name}: HTTP {status}: {body[:300]!r}")
    return body


def parallel(function: Callable[..., object], items: Iterable[object], workers: int = 32) -> None:
    """Call `function(item)` for every item on `workers` threads; re-raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(function, item) for item in items]:
            future.result()


# ---------------------------------------------------------------- phases

def small_s3(target: Target, bucket: str, connections: int, duration: float, count: int = 1000) -> None:
    body = os.urandom(SMALL)
    keys = [f"small/{i:06d}" for i in range(count)]
    puts = [s3_raw(target, "PUT", f"/{bucket}/{key}", body=body) for key in keys]
    # every key exists before the timed PUT (overwrites), GET and HEAD runs replay them
    create_all(target, lambda i: s3_raw(target, "PUT", f"/{bucket}/{keys[i]}", body=body), count)
    gets = [s3_raw(target, "GET", f"/{bucket}/{key}") for key in keys]
    heads = [s3_raw(target, "HEAD", f"/{bucket}/{key}") for key in keys]
    tag = f"@{connections}"
    target.record(f"s3 PUT 4KiB {tag}", run_wrk(target, puts, connections, duration)["ops"])
    target.record(f"s3 GET 4KiB {tag}", run_wrk(target, gets, connections, duration)["ops"])
    target.record(f"s3 HEAD 4KiB {tag}", run_wrk(target, heads, connections, duration)["ops"])
    doomed = [f"doomed/{connections}/{i:06d}" for i in range(target.delete_batch)]
    create_all(target, lambda i: s3_raw(target, "PUT", f"/{bucket}/{doomed[i]}", body=body), len(doomed))
    deletes = [s3_raw(target, "DELETE", f"/{bucket}/{key}") for key in doomed]
    target.record(f"s3 DELETE {tag}", run_once(target, deletes, connections)["ops"])


def small_swift(target: Target, container: str, connections: int, duration: float, count: int = 1000) -> None:
    body = os.urandom(SMALL)
    keys = [f"small/{i:06d}" for i in range(count)]
    tag = f"@{connections}"
    create_all(target, lambda i: swift_raw(target, "PUT", f"/{container}/{quote(keys[i])}", body=body), count)
    for method, phase, payload in (("PUT", "PUT 4KiB", body), ("GET", "GET 4KiB", b""),
                                   ("HEAD", "HEAD 4KiB", b"")):
        records = [swift_raw(target, method, f"/{container}/{quote(key)}", body=payload) for key in keys]
        target.record(f"swift {phase} {tag}", run_wrk(target, records, connections, duration)["ops"])
    doomed = [f"doomed/{connections}/{i:06d}" for i in range(target.delete_batch)]
    create_all(target, lambda i: swift_raw(target, "PUT", f"/{container}/{doomed[i]}", body=body),
               len(doomed))
    deletes = [swift_raw(target, "DELETE", f"/{container}/{key}") for key in doomed]
    target.record(f"swift DELETE {tag}", run_once(target, deletes, connections)["ops"])


def create_all(target: Target, make_request: Callable[[int], bytes], count: int) -> None:
    """Untimed set-up writes, retried: the reference's s3token times out on Keystone under load (400)."""
    def create(index: int) -> None:
        for _attempt in range(5):
            status, body = send(target, make_request(index))
            if status in (200, 201):
                return
        raise RuntimeError(f"{target.name}: set-up write answered HTTP {status}: {body[:200]!r}")

    parallel(create, range(count), 8)


def populate_listing(target: Target, bucket: str, count: int) -> None:
    create_all(target, lambda i: s3_raw(target, "PUT", f"/{bucket}/list/{i // 100:04d}/{i:06d}"), count)


def list_s3(target: Target, bucket: str, count: int, duration: float) -> None:
    starts = [f"list/{i // 100:04d}/{i:06d}" for i in range(0, count - 1000, 97)]
    records = [s3_raw(target, "GET", f"/{bucket}",
                      f"list-type=2&max-keys=1000&prefix=list%2F&start-after={quote(s, safe='')}")
               for s in starts]
    target.record("s3 ListObjectsV2 1000/page", run_wrk(target, records, 8, duration)["ops"])
    latencies = []
    for record in records[:30]:
        started = time.perf_counter()
        status, _ = send(target, record)
        if status == 200:  # the reference's s3token sometimes times out on Keystone (400)
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            target.failures += 1
    target.record("s3 ListObjectsV2 one page alone, ms", statistics.median(latencies))


VERSIONING_ENABLED = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                      b"<Status>Enabled</Status></VersioningConfiguration>")


def bench_policy(bucket: str, statements: int) -> bytes:
    """A policy of `statements` statements of the kinds people write (grants to other projects, denies
    of prefixes, conditions on headers and addresses), none of which refuses the benchmark's requests."""
    arn = f"arn:aws:s3:::{bucket}"
    kinds = [
        lambda i: {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::project{i}:root"},
                   "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [arn, f"{arn}/shared{i}/*"]},
        lambda i: {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"{arn}/locked{i}/*"},
        lambda i: {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"{arn}/*",
                   "Condition": {"StringEquals": {"s3:x-amz-acl": "public-read-write"}}},
        lambda i: {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*",
                   "Condition": {"IpAddress": {"aws:SourceIp": f"192.0.2.{i % 250}/32"}}},
    ]
    document = {"Version": "2012-10-17",
                "Statement": [{"Sid": f"s{i}", **kinds[i % len(kinds)](i)} for i in range(statements)]}
    return json.dumps(document).encode()


def make_bucket(target: Target, bucket: str, versioned: bool) -> None:
    expect(target, s3_raw(target, "PUT", f"/{bucket}"), (200, 409))
    if versioned:
        expect(target, s3_raw(target, "PUT", f"/{bucket}", "versioning=", VERSIONING_ENABLED))


def _put_indexed(target: Target, paths: list[str], body: bytes, index: int) -> bytes:
    return s3_raw(target, "PUT", paths[index], body=body)


def versioned_s3(target: Target, bucket: str, duration: float, connections: int = 16,
                 count: int = 1000) -> None:
    """4 KiB PUT and GET on a versioned bucket against an unversioned one, run back to back, each first
    in every other repeat (every PUT of the versioned one adds a version, so its keys grow histories)."""
    body = os.urandom(SMALL)
    keys = [f"small/{i:06d}" for i in range(count)]
    tag = f"@{connections}"
    kinds = ["unversioned", "versioned"]
    if len(target.results.get(f"s3 PUT 4KiB versioned {tag}", [])) % 2:
        kinds.reverse()
    for kind in kinds:
        name = f"{bucket}-{kind[:5]}"
        if name not in target.prepared:
            make_bucket(target, name, kind == "versioned")
            paths = [f"/{name}/{key}" for key in keys]
            create_all(target, functools.partial(_put_indexed, target, paths, body), count)
            target.prepared.add(name)
        for method, payload in (("PUT", body), ("GET", b"")):
            records = [s3_raw(target, method, f"/{name}/{key}", body=payload) for key in keys]
            ops = run_wrk(target, records, connections, duration)["ops"]
            target.record(f"s3 {method} 4KiB {kind} {tag}", ops)
    for method in ("PUT", "GET"):
        plain, versioned = (target.results[f"s3 {method} 4KiB {kind} {tag}"][-1]
                            for kind in ("unversioned", "versioned"))
        target.record(f"s3 {method} 4KiB versioned vs unversioned, %", 100 * versioned / plain)


def versions_list_s3(target: Target, bucket: str, duration: float, keys: int = 100,
                     versions: int = 100) -> None:
    """ListObjectsV2 pages of `keys` keys that each have `versions` versions, against the same page
    over keys with one version each: a page should cost O(page) whatever the keys' histories."""
    names = {"many versions": f"{bucket}-hist", "one version": f"{bucket}-flat"}
    for kind, name in names.items():
        if name in target.prepared:
            continue
        make_bucket(target, name, versioned=True)
        per_key = versions if kind == "many versions" else 1
        paths = [f"/{name}/v/{i // per_key:04d}" for i in range(keys * per_key)]
        create_all(target, functools.partial(_put_indexed, target, paths, b"x"), len(paths))
        target.prepared.add(name)
    for kind, name in names.items():
        records = [s3_raw(target, "GET", f"/{name}", f"list-type=2&max-keys={keys}&prefix=v%2F")]
        target.record(f"s3 ListObjectsV2 {keys}/page, {kind}", run_wrk(target, records, 8, duration)["ops"])


def large_s3(target: Target, bucket: str, repeats: int = 3, sse: str | None = None) -> tuple[float, float]:
    """Median MB/s of 64 MiB PUTs and GETs (`sse`: with that x-amz-server-side-encryption)."""
    body = os.urandom(LARGE)
    put_mbps, get_mbps = [], []
    label = f" SSE-{'S3' if sse == 'AES256' else sse}" if sse else ""
    extra = {"x-amz-server-side-encryption": sse} if sse else {}
    for i in range(repeats):
        path = f"/{bucket}/large{label.strip()}-{i}"
        headers = sign_s3(target, "PUT", path, body=body, headers=extra)  # hashed before the clock starts
        head = raw_request(target, "PUT", path, "", headers, content_length=LARGE)
        started = time.perf_counter()
        conn = http.client.HTTPConnection(target.host, target.port, timeout=300)
        conn.connect()
        assert conn.sock is not None
        conn.sock.sendall(head)
        conn.sock.sendall(body)
        response = http.client.HTTPResponse(conn.sock, method="PUT")
        response.begin()
        response.read()
        put_mbps.append(LARGE / (time.perf_counter() - started) / 1e6)
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"{target.name}: large PUT answered {response.status}")
        get_raw = s3_raw(target, "GET", path)
        started = time.perf_counter()
        received = stream_get(target, get_raw)
        get_mbps.append(received / (time.perf_counter() - started) / 1e6)
        if received != LARGE:
            raise RuntimeError(f"{target.name}: large GET returned {received} bytes")
    target.record(f"s3 PUT 64MiB{label} MB/s", statistics.median(put_mbps))
    target.record(f"s3 GET 64MiB{label} MB/s", statistics.median(get_mbps))
    return statistics.median(put_mbps), statistics.median(get_mbps)


def large_sse_s3(target: Target, bucket: str, repeats: int = 3) -> None:
    """64 MiB PUT/GET with SSE-S3 against plaintext, interleaved run by run, and their ratio (%)."""
    plain_put, plain_get, sse_put, sse_get = [], [], [], []
    for _ in range(repeats):
        put_rate, get_rate = large_s3(target, bucket, repeats=1)
        plain_put.append(put_rate)
        plain_get.append(get_rate)
        put_rate, get_rate = large_s3(target, bucket, repeats=1, sse="AES256")
        sse_put.append(put_rate)
        sse_get.append(get_rate)
    target.record("s3 PUT 64MiB SSE-S3 / plaintext, %",
                  100 * statistics.median(sse_put) / statistics.median(plain_put))
    target.record("s3 GET 64MiB SSE-S3 / plaintext, %",
                  100 * statistics.median(sse_get) / statistics.median(plain_get))


def stream_get(target: Target, raw: bytes) -> int:
    conn = http.client.HTTPConnection(target.host, target.port, timeout=300)
    conn.connect()
    assert conn.sock is not None
    conn.sock.sendall(raw)
    response = http.client.HTTPResponse(conn.sock, method="GET")
    response.begin()
    buffer = memoryview(bytearray(1 << 20))
    received = 0
    while True:
        n = response.readinto(buffer)
        if not n:
            break
        received += n
    conn.close()
    return received


def multipart_s3(target: Target, bucket: str) -> None:
    import re

    key = f"multipart-{uuid.uuid4().hex[:8]}"
    part = os.urandom(PART)
    parts = MULTIPART // PART
    started = time.perf_counter()
    created = expect(target, s3_raw(target, "POST", f"/{bucket}/{key}", "uploads="))
    match = re.search(rb"<UploadId>([^<]+)</UploadId>", created)
    assert match, created
    upload_id = match.group(1).decode()
    etags: dict[int, str] = {}

    def upload(number: int) -> None:
        query = f"partNumber={number}&uploadId={quote(upload_id, safe='')}"
        raw = s3_raw(target, "PUT", f"/{bucket}/{key}", query, part)
        status, _ = send(target, raw)
        if status != 200:
            raise RuntimeError(f"{target.name}: UploadPart answered {status}")
        etags[number] = hashlib.md5(part).hexdigest()

    parallel(upload, range(1, parts + 1), 4)
    complete = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>\"{etags[n]}\"</ETag></Part>" for n in sorted(etags)
    ) + "</CompleteMultipartUpload>"
    expect(target, s3_raw(target, "POST", f"/{bucket}/{key}", f"uploadId={quote(upload_id, safe='')}",
                          complete.encode()))
    target.record("s3 multipart 256MiB MB/s", MULTIPART / (time.perf_counter() - started) / 1e6)


def worker_pids(supervisor: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == supervisor:
                pids.append(int(entry.name))
    return pids


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples the peak RSS of every worker process in a background thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = False
        self._thread = concurrent.futures.ThreadPoolExecutor(1)
        self._future = self._thread.submit(self._run)

    def _run(self) -> None:
        while not self._stop:
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_mib(pid))
            time.sleep(0.1)

    def stop(self) -> dict[int, float]:
        self._stop = True
        self._future.result()
        self._thread.shutdown()
        return self.peak


def huge_s3(target: Target, bucket: str, size: int) -> None:
    """Stream one `size`-byte object in and out, recording the workers' peak RSS (stackbox only)."""
    if target.supervisor_pid is None:
        return
    chunk = os.urandom(1 << 20)
    path = f"/{bucket}/huge"
    headers = sign_s3(target, "PUT", path, unsigned_payload=True)
    before = {pid: rss_mib(pid) for pid in worker_pids(target.supervisor_pid)}
    sampler = RssSampler(list(before))
    conn = http.client.HTTPConnection(target.host, target.port, timeout=600)
    conn.connect()
    assert conn.sock is not None
    conn.sock.sendall(raw_request(target, "PUT", path, "", headers, content_length=size))
    for _ in range(size // len(chunk)):
        conn.sock.sendall(chunk)
    conn.sock.sendall(chunk[: size % len(chunk)])
    response = http.client.HTTPResponse(conn.sock, method="PUT")
    response.begin()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{target.name}: huge PUT answered {response.status}")
    received = stream_get(target, s3_raw(target, "GET", path))
    peak = sampler.stop()
    if received != size:
        raise RuntimeError(f"{target.name}: huge GET returned {received} of {size} bytes")
    expect(target, s3_raw(target, "DELETE", path))
    target.record(f"worker RSS before, MiB (max of {len(before)})", max(before.values()))
    target.record(f"worker RSS peak streaming {size >> 30} GiB in+out, MiB", max(peak.values()))


def generator_ceilings(target: Target, duration: float) -> tuple[float, float]:
    """What wrk and pyreplay.py reach against the cheapest request the server answers."""
    get = run_wrk(target, [raw_request(target, "GET", "/healthcheck", "", {})], 64, duration)["ops"]
    head = run_wrk(target, [raw_request(target, "HEAD", "/healthcheck", "", {})], 64, duration)["ops"]
    return get, head


# ---------------------------------------------------------------- targets

def start_stackbox(workers: int, serve_args: Sequence[str] = (), name: str = "stackbox") -> Target:
    """A stackbox server of its own (`serve_args`: more `stackbox serve` flags) and an EC2 pair."""
    import keystoneauth1.identity.v3 as v3
    from keystoneauth1.session import Session

    from cloud import start_cloud

    data_dir = Path(tempfile.mkdtemp(prefix="stackbox-bench-")) / "data"
    cloud = start_cloud(data_dir, workers=workers, extra_args=serve_args, timeout=120)
    auth = v3.Password(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                       project_name="admin", user_domain_id="default", project_domain_id="default")
    session = Session(auth=auth)
    user_id = session.get_user_id()
    project_id = session.get_project_id()
    created = session.post(f"{cloud.auth_url}/users/{user_id}/credentials/OS-EC2",
                           json={"tenant_id": project_id}).json()["credential"]

    def stop() -> None:
        cloud.stop()
        shutil.rmtree(data_dir.parent, ignore_errors=True)

    return Target(name, "127.0.0.1", cloud.object_port, created["access"], created["secret"],
                  f"{cloud.object_url}/v1/AUTH_{project_id}", session.get_token() or "", stop=stop,
                  supervisor_pid=cloud.process.pid)


def reference_target(refcloud: Path) -> Target | None:
    pair_file = refcloud / "data" / "ec2-admin.txt"
    if not pair_file.exists():
        return None
    import keystoneauth1.identity.v3 as v3
    from keystoneauth1.session import Session

    pair = dict(line.split(" ", 1) for line in pair_file.read_text().split("\n") if " " in line)
    auth = v3.Password(auth_url="http://127.0.0.1:15000/v3", username="admin", password="adminpass",
                       project_name="admin", user_domain_id="default", project_domain_id="default")
    session = Session(auth=auth)
    try:
        token = session.get_token() or ""
    except Exception as error:  # the reference cloud is optional
        print(f"reference cloud not reachable ({error}); running stackbox alone", file=sys.stderr)
        return None
    return Target("reference", "127.0.0.1", 18080, pair["access"].strip(), pair["secret"].strip(),
                  f"http://127.0.0.1:18080/v1/AUTH_{pair['project_id'].strip()}", token,
                  delete_batch=600)  # ~3 s of its DELETE rate, like stackbox's batch


# ---------------------------------------------------------------- main

def run_phase(name: str, targets: list[Target], bucket: str, args: argparse.Namespace) -> None:
    for target in targets:
        print(f"  {name} on {target.name}", file=sys.stderr, flush=True)
        try:
            run_target_phase(name, target, bucket, args)
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            # one failed phase must not throw away the rest of a long run; the report says so
            print(f"  {name} on {target.name} failed: {str(error)[:300]}", file=sys.stderr, flush=True)
            target.failed_phases.append(name)


def run_target_phase(name: str, target: Target, bucket: str, args: argparse.Namespace) -> None:
    if name == "small":
        for connections in (16, 64):
            small_s3(target, bucket, connections, args.duration)
    elif name == "swift":
        for connections in (16, 64):
            small_swift(target, bucket, connections, args.duration)
    elif name == "list":
        list_s3(target, bucket, args.list_keys, args.duration)
    elif name == "versioned":
        versioned_s3(target, bucket, args.duration)
    elif name == "versions-list":
        versions_list_s3(target, bucket, args.duration)
    elif name == "large":
        large_s3(target, bucket)
    elif name == "large-sse":
        large_sse_s3(target, bucket)
    elif name == "multipart":
        multipart_s3(target, bucket)
    elif name == "rss":
        huge_s3(target, bucket, args.huge_gib << 30)


def report(targets: list[Target]) -> Iterator[str]:
    names = [t.name for t in targets]
    phases = list(dict.fromkeys(p for t in targets for p in t.results))
    header = ["phase", *(f"{n} (median)" for n in names)]
    if len(targets) > 1:
        header.append("ratio")
    yield "| " + " | ".join(header) + " |"
    yield "|" + "---|" * len(header)
    for phase in phases:
        medians = [statistics.median(t.results[phase]) if phase in t.results else None for t in targets]
        cells = [phase, *(f"{m:,.1f}" if m is not None and m < 100 else f"{m:,.0f}" if m is not None else "-"
                          for m in medians)]
        if len(targets) > 1:
            a, b = medians[0], medians[1]
            lower_is_better = phase.endswith((", ms", "MiB"))
            cells.append(f"{(b / a if lower_is_better else a / b):.1f}x better" if a and b else "-")
        yield "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--phases", default="small,swift,list,large,multipart,rss")
    parser.add_argument("--targets", default="stackbox,reference")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--list-keys", type=int, default=10_000)
    parser.add_argument("--huge-gib", type=int, default=5, help="object size of the rss phase")
    parser.add_argument("--bucket-policy", type=int, default=0, metavar="N",
                        help="give stackbox's bucket a policy of N statements (the authorizer's cost)")
    parser.add_argument("--refcloud", type=Path,
                        default=Path(os.environ.get("REFCLOUD_DIR", "/tmp/refcloud")))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2

    wanted = args.targets.split(",")
    targets: list[Target] = []
    if "stackbox" in wanted:
        targets.append(start_stackbox(args.workers))
    if "reference" in wanted:
        reference = reference_target(args.refcloud)
        if reference:
            targets.append(reference)
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    phases = args.phases.split(",")
    try:
        for target in targets:
            expect(target, s3_raw(target, "PUT", f"/{bucket}"))
            if args.bucket_policy and target.name == "stackbox":
                expect(target, s3_raw(target, "PUT", f"/{bucket}", "policy=",
                                      bench_policy(bucket, args.bucket_policy)), (204,))
            if "list" in phases:
                print(f"populating {args.list_keys} keys on {target.name}", file=sys.stderr, flush=True)
                populate_listing(target, bucket, args.list_keys)
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", file=sys.stderr, flush=True)
            for phase in phases:
                run_phase(phase, targets, bucket, args)
        get_ceiling, head_ceiling = generator_ceilings(targets[0], args.duration)
        print("\n".join(report(targets)))
        print(f"\nGenerator ceilings against {targets[0].name}'s /healthcheck, 64 connections: "
              f"wrk >= {get_ceiling:,.0f} GET/s, pyreplay.py >= {head_ceiling:,.0f} HEAD/s")
        for target in targets:
            if target.failed_phases:
                print(f"{target.name}: phase runs that failed and were left out: {target.failed_phases}")
            if target.failures:
                print(f"{target.name}: {target.failures} requests answered with an error status during "
                      "timed runs (left out of its ops/s).")
        print(f"Units: ops/s unless the phase says MB/s; {args.repeats} repeats, {args.duration:.0f} s per "
              f"wrk run, {args.workers} stackbox workers, machine: {os.cpu_count()} cores.")
    finally:
        for target in targets:
            if target.stop:
                target.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
