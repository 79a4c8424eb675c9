"""Scale-out benchmark: stackbox on PostgreSQL + RADOS against Ceph's own gateway on the same cluster.

    make bench-scaleout          # or: .venv/bin/python bench/scaleout.py --repeats 3 --duration 5

One run starts a one-node Ceph cluster and a PostgreSQL server (tests/backends/cluster.py; PostgreSQL
with its own durable fsync/commit settings, not the tests' fsync off), radosgw on that cluster (beast,
its pools of size 1, as shipped otherwise) and stackbox serving from `--metadata postgresql://...
--blobs rados://POOL?conf=...&id=...` on the same cluster. Both get the same S3 workload from the same
generators as bench/run.py (pre-signed requests replayed by wrk and pyreplay.py on the same number of
connections): 4 KiB PUT/GET/HEAD and DELETE (each key once) at 16 and 64 connections, 64 MiB PUT and
GET on one stream. They are interleaved phase by phase over the repeats, taking turns to go first;
each DELETE run removes objects made for it, as many as its target PUT in 3 s. The report gives
medians and stackbox/radosgw ratios against issue 12's targets (2x radosgw's small-object ops/s, at
least its large-object MB/s). A stackbox whose `serve` lacks either flag runs on what it has (the
target's name says which). `--targets` adds `embedded` (stackbox on SQLite + files) for comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import run
from backends.cluster import CephCluster, PostgresCluster, RadosGateway
from cpu_ledger import CpuLedger
from run import Target

POOL = "stackbox-bench"
CEPH_USER = "stackbox"
#: a DELETE run removes, once each, as many objects as its target PUT in this many seconds just
#: before (4 KiB PUT rates differ 30x between the configurations), within DELETE_BATCH
DELETE_SECONDS = 3.0
DELETE_BATCH = (200, 4000)
#: issue 12's targets, stackbox/radosgw
SMALL_TARGET = 2.0
LARGE_TARGET = 1.0


def serve_flags() -> set[str]:
    """Which of the scale-out flags this stackbox's `serve` has."""
    stackbox = Path(sys.executable).parent / "stackbox"
    usage = subprocess.run([str(stackbox), "serve", "--help"], capture_output=True, text=True,
                           check=True, timeout=60).stdout
    return {flag for flag in ("--metadata", "--blobs") if flag in usage}


def start_scaleout_stackbox(stack: ExitStack, ceph: CephCluster, ledger: CpuLedger, workers: int) -> Target:
    flags = serve_flags()
    serve_args: list[str] = []
    roles = {"OSD": osd_pid(ceph)}
    metadata, blobs = "sqlite", "file"
    if "--metadata" in flags:
        postgres = PostgresCluster.start(durable=True)
        stack.callback(postgres.stop)
        serve_args += ["--metadata", postgres.dsn]
        roles["PostgreSQL"] = postgres.daemons.find("postgres").pid
        metadata = "postgresql"
    if "--blobs" in flags:
        ceph.create_pool(POOL)
        ceph.wait_clean()
        conf = ceph.add_client(CEPH_USER, "mon", "allow r", "osd", f"allow rwx pool={POOL}")
        serve_args += ["--blobs", f"rados://{POOL}?conf={conf}&id={CEPH_USER}"]
        blobs = "rados"
    label = f"stackbox {metadata}+{blobs}"
    if len(flags) < 2:
        label += " (serve lacks " + " ".join(sorted({"--metadata", "--blobs"} - flags)) + ")"
    target = start_stackbox(stack, workers, serve_args, label)
    assert target.supervisor_pid is not None
    ledger.roles[target.name] = {"server": target.supervisor_pid, **roles}
    return target


def start_stackbox(stack: ExitStack, workers: int, serve_args: list[str], label: str) -> Target:
    target = run.start_stackbox(workers, serve_args, name=label)
    stack.callback(target.stop or (lambda: None))
    target.stop = None
    return target


def osd_pid(ceph: CephCluster) -> int:
    return ceph.daemons.find("ceph-osd").pid


def start_radosgw(stack: ExitStack, ceph: CephCluster, ledger: CpuLedger) -> Target:
    gateway = RadosGateway.start(ceph)
    stack.callback(gateway.stop)
    ledger.roles["radosgw"] = {"server": gateway.daemons.find("radosgw").pid, "OSD": osd_pid(ceph)}
    return Target("radosgw", "127.0.0.1", gateway.port, gateway.access_key, gateway.secret_key,
                  swift_account_url="", token="")


def size_delete_batches() -> None:
    """Make each DELETE run as long as DELETE_SECONDS of its target's PUTs (see DELETE_SECONDS)."""
    timed = run.run_wrk

    def run_wrk(target: Target, records: list[bytes], connections: int, duration: float) -> dict[str, float]:
        result = timed(target, records, connections, duration)
        if records[0].startswith(b"PUT "):
            low, high = DELETE_BATCH
            target.delete_batch = max(low, min(high, round(result["ops"] * DELETE_SECONDS)))
        return result

    run.run_wrk = run_wrk


def report(targets: list[Target]) -> Iterator[str]:
    """Medians per target; with radosgw, stackbox/radosgw for the first target and issue 12's verdict."""
    peer = next((target for target in targets if target.name == "radosgw"), None)
    ours = targets[0]
    header = ["phase", *(f"{target.name}" for target in targets)]
    if peer is not None and ours is not peer:
        header += ["stackbox/radosgw", "target"]
    yield "| " + " | ".join(header) + " |"
    yield "|" + "---|" * len(header)
    for phase in dict.fromkeys(phase for target in targets for phase in target.results):
        medians = [statistics.median(t.results[phase]) if phase in t.results else None for t in targets]
        cells = [phase, *("-" if m is None else f"{m:,.1f}" if m < 100 else f"{m:,.0f}" for m in medians)]
        if len(header) > len(cells):
            cells += verdict(phase, ours, peer) if peer is not None else []
        yield "| " + " | ".join(cells) + " |"


def verdict(phase: str, ours: Target, peer: Target) -> list[str]:
    if phase not in ours.results or phase not in peer.results:
        return ["-", "-"]
    ratio = statistics.median(ours.results[phase]) / statistics.median(peer.results[phase])
    goal = LARGE_TARGET if "MiB" in phase else SMALL_TARGET
    return [f"{ratio:.2f}x", f">= {goal:g}x: {'met' if ratio >= goal else 'missed'}"]


def run_benchmark(targets: list[Target], args: argparse.Namespace) -> None:
    bucket = f"scaleout-{uuid.uuid4().hex[:8]}"
    for target in targets:
        run.expect(target, run.s3_raw(target, "PUT", f"/{bucket}"))
    phases = args.phases.split(",")
    for repeat in range(args.repeats):
        print(f"repeat {repeat + 1}/{args.repeats}", file=sys.stderr, flush=True)
        # who goes first takes turns, so that neither always runs after the other's writes
        order = targets if repeat % 2 == 0 else targets[::-1]
        for phase in phases:
            run.run_phase(phase, order, bucket, args)


def print_report(targets: list[Target], ledger: CpuLedger, args: argparse.Namespace, began: float) -> None:
    print("\n".join(report(targets)))
    print()
    print("\n".join(ledger.report(targets)))
    for target in targets:
        if target.failed_phases:
            print(f"{target.name}: phase runs that failed and were left out: {target.failed_phases}")
        if target.failures:
            print(f"{target.name}: {target.failures} requests answered with an error status during timed "
                  "runs (left out of its ops/s).")
    print(f"Units: ops/s unless the phase says MB/s (@N: N connections); medians of {args.repeats} repeats, "
          f"{args.duration:.0f} s per timed run; stackbox {args.workers} worker processes, radosgw one "
          f"process with its default thread pool; one mon, mgr and OSD, PostgreSQL and the load generators "
          f"on the same {os.cpu_count()} cores; whole run {time.monotonic() - began:.0f} s, load average at "
          f"the end {os.getloadavg()[1]:.1f} (5 min).")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per timed run")
    parser.add_argument("--phases", default="small,large", help="bench/run.py phases (small, large, list...)")
    parser.add_argument("--targets", default="stackbox,radosgw",
                        help="stackbox (PostgreSQL + RADOS), radosgw, embedded (SQLite + files)")
    parser.add_argument("--workers", type=int, default=2, help="stackbox worker processes")
    parser.add_argument("--list-keys", type=int, default=10_000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    wanted = args.targets.split(",")
    began = time.monotonic()
    ledger = CpuLedger()
    ledger.install()
    size_delete_batches()
    with ExitStack() as stack:
        ceph = CephCluster.start()
        stack.callback(ceph.stop)
        print(f"one-node Ceph cluster up after {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
        targets: list[Target] = []
        if "stackbox" in wanted:
            targets.append(start_scaleout_stackbox(stack, ceph, ledger, args.workers))
        if "radosgw" in wanted:
            targets.append(start_radosgw(stack, ceph, ledger))
        if "embedded" in wanted:
            embedded = start_stackbox(stack, args.workers, [], "stackbox sqlite+file (embedded)")
            assert embedded.supervisor_pid is not None
            ledger.roles[embedded.name] = {"server": embedded.supervisor_pid}
            targets.append(embedded)
        print(f"targets up after {time.monotonic() - began:.0f} s: {', '.join(t.name for t in targets)}",
              file=sys.stderr, flush=True)
        run_benchmark(targets, args)
        print_report(targets, ledger, args, began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
