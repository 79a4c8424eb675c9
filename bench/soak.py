"""A bounded resilience soak: normal S3 and Swift traffic while attackers hit the same server.

Starts stackbox (tests/cloud.py's start_cloud: free loopback ports, a temporary data dir), then for
`--duration` seconds keeps 64 normal requests in flight (S3 SigV4 and Swift with a token: PUT, GET,
HEAD, listings, DELETE of small objects). After a quiet phase (`--quiet` seconds, normal traffic
only), attackers start in a separate process (so their client-side work does not slow the normal
traffic's client): slow clients (headers trickled a byte at a time, bodies that stall), 8
concurrent wrong-password token requests, PUTs of large nested SLO manifests, and many-range GETs.

Targets, checked at the end (exit status 1 if one is missed):
- no 5xx and no connection error in the normal traffic;
- p99 latency of the normal traffic under attack within 3x its quiet p99;
- worker RSS flat: every worker grows by less than 50 MiB from start to end, and none restarts;
- no traceback in the server log.

Everything runs on 127.0.0.1, every socket has a timeout, every loop stops at the deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import queue
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from run import REPO, UnsignedPayloadAuth, rss_mib, worker_pids

sys.path.insert(0, str(REPO / "tests"))
from cloud import RunningCloud, start_cloud

IN_FLIGHT = 64
WARMUP_SECONDS = 3.0
OBJECTS = 200
OBJECT_SIZE = 2048
REQUEST_TIMEOUT = 30.0
MAX_P99_RATIO = 3.0
MAX_RSS_GROWTH_MIB = 50.0
SLOW_CLIENTS = 48
PASSWORD_GUESSERS = 8
RANGE_OBJECT_SIZE = 1 << 20
#: Bytes of a many-range response an attacker reads before hanging up.
RANGE_READ_CAP = 64 << 20
REGION = "us-east-1"


@dataclass(frozen=True)
class Account:
    """A project's Swift account and token, and an EC2 pair on it."""

    swift_url: str
    token: str
    access: str
    secret: str


@dataclass(frozen=True)
class Setup:
    object_url: str
    identity_url: str
    normal: Account
    attacker: Account
    bucket: str
    container: str
    attack_container: str
    victims: tuple[str, ...]


@dataclass(frozen=True)
class Sample:
    at: float  #: monotonic time the request started
    seconds: float
    status: int  #: 0 for a connection error


@dataclass
class Schedule:
    start: float
    attack_start: float
    end: float


# ------------------------------------------------------------------------------------- set-up


def _token(auth_url: str, user: str, password: str, project: str) -> str:
    """A project-scoped token for a password authentication."""
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"id": "default"}}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    response = requests.post(f"{auth_url}/auth/tokens", json=body, timeout=REQUEST_TIMEOUT)
    response.raise_for_status()
    return response.headers["X-Subject-Token"]


class Admin:
    """The cloud's admin, making the soak's users through the identity API."""

    def __init__(self, cloud: RunningCloud) -> None:
        self.cloud = cloud
        self.session = requests.Session()
        self.session.headers["X-Auth-Token"] = _token(cloud.auth_url, "admin", cloud.admin_password, "admin")
        roles = self._call("GET", "/roles?name=member")["roles"]
        self.member_role = roles[0]["id"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.session.request(method, f"{self.cloud.auth_url}{path}", json=body,
                                        timeout=REQUEST_TIMEOUT)
        response.raise_for_status()
        return response.json() if response.content else {}

    def user(self) -> tuple[str, str, str]:
        """(id, name, password) of a new user."""
        name, password = f"soak-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        created = self._call("POST", "/users", {"user": {"name": name, "password": password,
                                                          "domain_id": "default"}})
        return created["user"]["id"], name, password

    def member_account(self) -> Account:
        """A new user, member of a new project of the same name: its account, token and EC2 pair."""
        user_id, name, password = self.user()
        project_id = self._call("POST", "/projects", {"project": {"name": name,
                                                                  "domain_id": "default"}})["project"]["id"]
        self._call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{self.member_role}")
        pair = self._call("POST", f"/users/{user_id}/credentials/OS-EC2",
                          {"tenant_id": project_id})["credential"]
        token = _token(self.cloud.auth_url, name, password, name)
        return Account(f"{self.cloud.object_url}/v1/AUTH_{project_id}", token, pair["access"], pair["secret"])


def prepare(cloud: RunningCloud) -> Setup:
    admin = Admin(cloud)
    victims = tuple(admin.user()[1] for _ in range(PASSWORD_GUESSERS))
    setup = Setup(cloud.object_url, cloud.auth_url, admin.member_account(), admin.member_account(),
                  f"soak-{uuid.uuid4().hex[:8]}", "soak", "attack", victims)
    client = NormalClient(setup)
    client.check(client.s3("PUT", f"/{setup.bucket}"))
    client.check(client.swift("PUT", f"/{setup.container}"))
    for index in range(OBJECTS):
        client.check(client.s3("PUT", f"/{setup.bucket}/k{index}", os.urandom(OBJECT_SIZE)))
        client.check(client.swift("PUT", f"/{setup.container}/o{index}", os.urandom(OBJECT_SIZE)))
    return setup


# ----------------------------------------------------------------------------- normal traffic


class NormalClient:
    """One thread's keep-alive session for the normal traffic."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.session = requests.Session()
        self.credentials = Credentials(setup.normal.access, setup.normal.secret)

    def s3(self, method: str, path: str, body: bytes = b"", query: str = "") -> requests.Response:
        url = f"{self.setup.object_url}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, data=body)
        UnsignedPayloadAuth(self.credentials, "s3", REGION).add_auth(request)
        return self.session.request(method, url, data=body, headers=dict(request.headers.items()),
                                    timeout=REQUEST_TIMEOUT)

    def swift(self, method: str, path: str, body: bytes = b"", query: str = "") -> requests.Response:
        url = f"{self.setup.normal.swift_url}{path}" + (f"?{query}" if query else "")
        return self.session.request(method, url, data=body, headers={"X-Auth-Token": self.setup.normal.token},
                                    timeout=REQUEST_TIMEOUT)

    @staticmethod
    def check(response: requests.Response) -> None:
        if response.status_code >= 300:
            raise RuntimeError(f"set-up request answered {response.status_code}: {response.text[:300]}")

    def random_operation(self, rng: random.Random) -> Callable[[], requests.Response]:
        index = rng.randrange(OBJECTS)
        s3_key, swift_object = f"/{self.setup.bucket}/k{index}", f"/{self.setup.container}/o{index}"
        roll = rng.random()
        operations: list[tuple[float, Callable[[], requests.Response]]] = [
            (0.20, lambda: self.s3("GET", s3_key)),
            (0.30, lambda: self.s3("HEAD", s3_key)),
            (0.40, lambda: self.s3("PUT", s3_key, os.urandom(OBJECT_SIZE))),
            (0.45, lambda: self.s3("GET", f"/{self.setup.bucket}", query="list-type=2&max-keys=100")),
            (0.65, lambda: self.swift("GET", swift_object)),
            (0.75, lambda: self.swift("HEAD", swift_object)),
            (0.85, lambda: self.swift("PUT", swift_object, os.urandom(OBJECT_SIZE))),
            (0.90, lambda: self.swift("GET", f"/{self.setup.container}", query="limit=100&format=json")),
            (0.95, lambda: self.s3("DELETE", s3_key)),
            (1.00, lambda: self.swift("DELETE", swift_object)),
        ]
        return next(operation for threshold, operation in operations if roll < threshold)


def normal_traffic(setup: Setup, schedule: Schedule, samples: list[Sample], seed: int) -> None:
    client, rng = NormalClient(setup), random.Random(seed)
    while (started := time.monotonic()) < schedule.end:
        operation = client.random_operation(rng)
        try:
            status = operation().status_code
        except requests.RequestException:
            status = 0
        samples.append(Sample(started, time.monotonic() - started, status))


# ---------------------------------------------------------------------------------- attackers


@dataclass
class AttackCounts:
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def slow_client(setup: Setup, end: float, counts: AttackCounts, stall_body: bool) -> None:
    """One connection at a time that trickles its request a byte a second; reconnects when dropped."""
    port = _port(setup.object_url)
    path = f"/v1/{setup.attacker.swift_url.rsplit('/v1/', 1)[1]}/{setup.attack_container}/slow"
    head = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {setup.attacker.token}\r\n"
    head += "Content-Length: 1000000\r\n\r\n"
    while time.monotonic() < end:
        counts.add("slow connections opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                opening = head.encode() if stall_body else b"GET /healthcheck HTTP/1.1\r\n"
                trickled = b"x" if stall_body else b"X"
                sock.sendall(opening)
                while time.monotonic() < end:
                    time.sleep(1)
                    sock.sendall(trickled)
        except OSError:
            counts.add("slow connections dropped by the server")


def password_guesser(setup: Setup, end: float, counts: AttackCounts, victim: str) -> None:
    while time.monotonic() < end:
        body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": victim, "password": uuid.uuid4().hex, "domain": {"id": "default"}}}}}}
        try:
            response = requests.post(f"{setup.identity_url}/auth/tokens", json=body, timeout=REQUEST_TIMEOUT)
            counts.add(f"wrong-password answers {response.status_code}")
        except requests.RequestException:
            counts.add("wrong-password connection errors")


def _nested_manifest(setup: Setup, level: int) -> bytes:
    previous = "seg" if level == 1 else f"m{level - 1}"
    return json.dumps([{"path": f"/{setup.attack_container}/{previous}"}] * 1000).encode()


def manifest_attacker(setup: Setup, end: float, counts: AttackCounts) -> None:
    """PUTs of SLOs of 1000 segments, and of SLOs of 1000 such SLOs (a million extents): Swift refuses
    the second by its limits. No deeper: without limits, a third level would take gigabytes."""
    url = f"{setup.attacker.swift_url}/{setup.attack_container}"
    headers = {"X-Auth-Token": setup.attacker.token}
    level = 1
    while time.monotonic() < end:
        try:
            response = requests.put(f"{url}/m{level}", params={"multipart-manifest": "put"}, headers=headers,
                                    data=_nested_manifest(setup, level), timeout=REQUEST_TIMEOUT * 2)
            counts.add(f"nested manifest level {level} answers {response.status_code}")
            level = 2 if response.status_code == 201 or level == 2 else 1
        except requests.RequestException:
            counts.add("nested manifest connection errors")


def range_attacker(setup: Setup, end: float, counts: AttackCounts) -> None:
    """GETs of a 1 MiB object with ~700 whole-object ranges (under the 8 KiB header line limit)."""
    ranges = "bytes=" + ",".join([f"0-{RANGE_OBJECT_SIZE - 1}"] * 700)
    url = f"{setup.attacker.swift_url}/{setup.attack_container}/big"
    while time.monotonic() < end:
        try:
            with requests.get(url, headers={"X-Auth-Token": setup.attacker.token, "Range": ranges},
                              stream=True, timeout=REQUEST_TIMEOUT) as response:
                received = 0
                for chunk in response.iter_content(1 << 20):
                    received += len(chunk)
                    if received >= RANGE_READ_CAP or time.monotonic() >= end:
                        break
            counts.add(f"many-range answers {response.status_code}")
        except requests.RequestException:
            counts.add("many-range connection errors")


def _prepare_attacker(setup: Setup) -> None:
    headers = {"X-Auth-Token": setup.attacker.token}
    base = f"{setup.attacker.swift_url}/{setup.attack_container}"
    requests.put(base, headers=headers, timeout=REQUEST_TIMEOUT).raise_for_status()
    requests.put(f"{base}/seg", data=b"s", headers=headers, timeout=REQUEST_TIMEOUT).raise_for_status()
    requests.put(f"{base}/big", data=os.urandom(RANGE_OBJECT_SIZE), headers=headers,
                 timeout=REQUEST_TIMEOUT).raise_for_status()


def attack(setup: Setup, schedule: Schedule, results: multiprocessing.Queue[dict[str, int]]) -> None:
    """The attackers' process: waits for the attack phase, attacks until the end, reports its counts."""
    counts = AttackCounts()
    _prepare_attacker(setup)
    time.sleep(max(schedule.attack_start - time.monotonic(), 0))
    end = schedule.end
    jobs: list[tuple[Callable[..., None], tuple[Any, ...]]] = [(manifest_attacker, ()), (range_attacker, ()),
                                                               (range_attacker, ())]
    jobs += [(password_guesser, (victim,)) for victim in setup.victims]
    jobs += [(slow_client, (index % 2 == 0,)) for index in range(SLOW_CLIENTS)]
    threads = [threading.Thread(target=job, args=(setup, end, counts, *extra), daemon=True)
               for job, extra in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(end - time.monotonic(), 0) + REQUEST_TIMEOUT * 2 + 5)
    results.put(dict(counts.counts))


# ------------------------------------------------------------------------------------- report


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def latencies(samples: list[Sample], start: float, end: float) -> list[float]:
    return [sample.seconds for sample in samples if start <= sample.at < end and sample.status]


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> None:
        self.lines.append(f"  [{'ok' if ok else 'MISSED'}] {text}")
        if not ok:
            self.missed.append(text)


def _rss(pids: list[int]) -> dict[int, float]:
    sizes = {}
    for pid in pids:
        try:
            sizes[pid] = rss_mib(pid)
        except OSError:
            continue
    return sizes


def _phase_line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no requests"
    return (f"{name}: {len(values)} requests, p50 {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.1f} ms")


def _check_traffic(verdict: Verdict, samples: list[Sample], schedule: Schedule) -> None:
    statuses: dict[int, int] = {}
    for sample in samples:
        statuses[sample.status] = statuses.get(sample.status, 0) + 1
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    verdict.lines.append(f"normal traffic: {len(samples)} requests, statuses {dict(sorted(statuses.items()))}"
                         if samples else "normal traffic: no requests")
    verdict.check(server_errors == 0, f"5xx in normal traffic: {server_errors}")
    verdict.check(not statuses.get(0), f"connection errors in normal traffic: {statuses.get(0, 0)}")
    quiet = latencies(samples, schedule.start + WARMUP_SECONDS, schedule.attack_start)
    attacked = latencies(samples, schedule.attack_start + WARMUP_SECONDS, schedule.end)
    verdict.lines += [_phase_line("quiet", quiet), _phase_line("under attack", attacked)]
    ratio = percentile(attacked, 0.99) / percentile(quiet, 0.99) if quiet and attacked else float("inf")
    verdict.check(ratio <= MAX_P99_RATIO,
                  f"p99 under attack / quiet p99: {ratio:.2f} (target <= {MAX_P99_RATIO:.0f})")


def _check_memory(verdict: Verdict, before: dict[int, float], after: dict[int, float]) -> None:
    verdict.check(set(before) == set(after),
                  f"workers unchanged (no restart): before {sorted(before)}, after {sorted(after)}")
    sizes = ", ".join(f"{size:.0f} -> {after.get(pid, float('nan')):.0f}" for pid, size in before.items())
    growth_ok = all(after.get(pid, float("inf")) - size < MAX_RSS_GROWTH_MIB for pid, size in before.items())
    verdict.check(growth_ok, f"worker RSS MiB before -> after: {sizes} (target < +{MAX_RSS_GROWTH_MIB:.0f})")


def report(samples: list[Sample], schedule: Schedule, rss_before: dict[int, float],
           rss_after: dict[int, float], attacks: dict[str, int], log: str) -> Verdict:
    verdict = Verdict()
    _check_traffic(verdict, samples, schedule)
    _check_memory(verdict, rss_before, rss_after)
    tracebacks = log.count("Traceback")
    verdict.check(tracebacks == 0, f"tracebacks in the server log: {tracebacks}")
    attack_counts = ", ".join(f"{name}: {count}" for name, count in sorted(attacks.items()))
    verdict.lines.append(f"attackers: {attack_counts or 'no report'}")
    return verdict


# --------------------------------------------------------------------------------------- main


@dataclass
class Run:
    cloud: RunningCloud
    setup: Setup
    schedule: Schedule
    samples: list[Sample] = field(default_factory=list)


def soak(run: Run) -> tuple[dict[int, float], dict[int, float], dict[str, int]]:
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[dict[str, int]] = context.Queue()
    attackers = context.Process(target=attack, args=(run.setup, run.schedule, results), daemon=True)
    attackers.start()  # forked before any traffic thread exists
    rss_before = _rss(worker_pids(run.cloud.process.pid))
    threads = [threading.Thread(target=normal_traffic, args=(run.setup, run.schedule, run.samples, seed),
                                daemon=True) for seed in range(IN_FLIGHT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(run.schedule.end - time.monotonic(), 0) + REQUEST_TIMEOUT + 5)
    rss_after = _rss(worker_pids(run.cloud.process.pid))
    try:
        attacks = results.get(timeout=REQUEST_TIMEOUT * 2 + 10)
    except queue.Empty:
        attacks = {}
    attackers.join(timeout=5)
    if attackers.is_alive():
        attackers.kill()
    return rss_before, rss_after, attacks


@contextlib.contextmanager
def running_cloud(workers: int) -> Iterator[RunningCloud]:
    data_dir = Path(tempfile.mkdtemp(prefix="stackbox-soak-")) / "data"
    cloud = start_cloud(data_dir, workers=workers)
    try:
        yield cloud
    finally:
        cloud.stop()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of traffic (default 120)")
    parser.add_argument("--quiet", type=float, default=20.0,
                        help="seconds of normal traffic alone first (default 20, at most a third)")
    parser.add_argument("--workers", type=int, default=2, help="stackbox workers (default 2)")
    args = parser.parse_args()
    quiet = min(args.quiet, args.duration / 3)
    with running_cloud(args.workers) as cloud:
        setup = prepare(cloud)
        now = time.monotonic()
        run = Run(cloud, setup, Schedule(now, now + quiet, now + args.duration))
        print(f"soak: {args.duration:.0f} s, {IN_FLIGHT} normal requests in flight, "
              f"attack after {quiet:.0f} s", flush=True)
        rss_before, rss_after, attacks = soak(run)
        verdict = report(run.samples, run.schedule, rss_before, rss_after, attacks, cloud.log())
    print("\n".join(verdict.lines))
    print("all targets met" if not verdict.missed else f"{len(verdict.missed)} target(s) missed")
    return 1 if verdict.missed else 0


if __name__ == "__main__":
    sys.exit(main())
