"""Small-object writes from two nodes on one PostgreSQL catalog: into one container, and one each.

    .venv/bin/python bench/pg_writers.py [--seconds 5] [--in-flight 32] [--rounds 3]

Two processes (two nodes, or two workers: each an `Engine` with its own group committer) PUT 4 KiB
objects (inline in the catalog, so no blob backend is involved) for a few seconds with N writes in
flight each, into the same container, then each into a container of its own; rounds alternate. On
PostgreSQL the group commit's batches of different containers commit side by side (scoped write
locks: `GroupCommitter.run`), those of one container one after the other, so the second case
shows what the finer locks give. PostgreSQL runs with its durable settings (fsync, synchronous
commit). Prints each case's writes per second (medians) and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from backends.cluster import PostgresCluster

ACCOUNT = "AUTH_bench"
BODY = os.urandom(4096)


async def _body() -> AsyncIterator[bytes]:
    yield BODY


async def _write_for(url: str, container: str, seconds: float, in_flight: int, start_at: float) -> int:
    from stackbox.storage.engine import Engine

    engine = Engine(Path(tempfile.mkdtemp(prefix="pg-writers-")) / "data", metadata=url)
    try:
        engine.create_container(ACCOUNT, container)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.monotonic() + seconds
        done = 0

        async def writer(index: int) -> None:
            nonlocal done
            number = 0
            while time.monotonic() < deadline:
                await engine.put_object(ACCOUNT, container, f"{os.getpid()}/{index}/{number % 50}", _body())
                number += 1
                done += 1

        await asyncio.gather(*(writer(index) for index in range(in_flight)))
        return done
    finally:
        engine.close()


def _node(url: str, container: str, seconds: float, in_flight: int, start_at: float,
          results: multiprocessing.Queue[int]) -> None:
    results.put(asyncio.run(_write_for(url, container, seconds, in_flight, start_at)))


def run_case(url: str, containers: tuple[str, str], seconds: float, in_flight: int) -> float:
    results: multiprocessing.Queue[int] = multiprocessing.Queue()
    start_at = time.time() + 3.0  # both engines open first, then write at the same moment
    nodes = [multiprocessing.Process(target=_node, args=(url, name, seconds, in_flight, start_at, results))
             for name in containers]
    for node in nodes:
        node.start()
    total = sum(results.get(timeout=seconds + 120) for _ in nodes)
    for node in nodes:
        node.join(timeout=60)
    return total / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--in-flight", type=int, default=32, help="writes in flight per node")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    postgres = PostgresCluster.start(durable=True)
    try:
        cases = {"one container": ("shared", "shared"), "a container each": ("first", "second")}
        rates: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, containers in cases.items():
                rates[name].append(run_case(postgres.dsn, containers, args.seconds, args.in_flight))
        for name, values in rates.items():
            print(f"{name}: {statistics.median(values):,.0f} PUT/s (runs: "
                  f"{', '.join(f'{value:,.0f}' for value in values)})")
        print(f"two nodes, {args.in_flight} writes in flight each, {args.seconds:g} s per run, "
              f"load average {os.getloadavg()[1]:.1f} (5 min) on {os.cpu_count()} cores")
    finally:
        postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
