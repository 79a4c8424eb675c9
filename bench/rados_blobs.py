"""Throughput of the RADOS blob backend on the tests' throwaway one-node Ceph cluster.

Starts the cluster of tests/backends/cluster.py (mon + mgr + one bluestore OSD on a sparse file,
pool size 1), then writes and reads 64 MiB blobs through `RadosBlobs` for each write window asked
for (stripes in flight while the next one fills), and the same stripes with plain synchronous
librados calls one at a time (the floor), and prints medians over the repeats. Configurations
take turns within each repeat, so that the machine's other load falls on all of them alike.
Writes are handed over in 1 MiB batches, as the engine's background writer does. The cluster is
stopped at the end.

    .venv/bin/python bench/rados_blobs.py [--size-mib 64] [--repeats 7] [--windows 1,2,4,8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from backends.cluster import CephCluster
from stackbox.storage.rados_blobs import RadosBlobs

MiB = 1 << 20
POOL = "stackbox-bench"
Once = Callable[[RadosBlobs, bytes], tuple[float, float]]


def blobs_once(backend: RadosBlobs, data: bytes) -> tuple[float, float]:
    """Seconds to write, then to read back, one blob."""
    view = memoryview(data)
    began = time.perf_counter()
    writer = backend.open_writer()
    for offset in range(0, len(data), MiB):
        writer.write_all([view[offset:offset + MiB]])
    writer.commit()
    wrote = time.perf_counter() - began
    began = time.perf_counter()
    received = sum(len(chunk) for chunk in backend.read(writer.blob_id, 0, len(data)))
    read = time.perf_counter() - began
    assert received == len(data)
    backend.delete(writer.blob_id)
    return wrote, read


def plain_once(backend: RadosBlobs, data: bytes) -> tuple[float, float]:
    """The same stripes written and read one by one with synchronous librados calls."""
    ioctx, stripe = backend.ioctx, backend.stripe_size
    names = [f"plain.{index:08x}" for index in range(len(data) // stripe)]
    began = time.perf_counter()
    for index, name in enumerate(names):
        ioctx.write_full(name, data[index * stripe:(index + 1) * stripe])
    wrote = time.perf_counter() - began
    began = time.perf_counter()
    for name in names:
        ioctx.read(name, stripe, 0)
    read = time.perf_counter() - began
    for name in names:
        ioctx.remove_object(name)
    return wrote, read


def run(cluster: CephCluster, size_mib: int, repeats: int, windows: list[int]) -> None:
    data = bytes(range(256)) * (size_mib * MiB // 256)
    backends = {window: RadosBlobs.connect(POOL, str(cluster.conf), namespace=f"window-{window}",
                                           write_window=window) for window in {1, *windows}}
    subjects: list[tuple[str, Once, RadosBlobs]] = [
        ("plain librados, one stripe at a time", plain_once, backends[1])]
    subjects += [(f"RadosBlobs, write window {window}", blobs_once, backends[window]) for window in windows]
    rates: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, _, _ in subjects}
    try:
        for _ in range(repeats):
            for label, once, backend in subjects:
                wrote, read = once(backend, data)
                rates[label][0].append(size_mib / wrote)
                rates[label][1].append(size_mib / read)
    finally:
        for backend in backends.values():
            backend.close()
    print(f"| {size_mib} MiB, median of {repeats} | write MB/s | read MB/s |")
    print("|---|---|---|")
    for label, (writes, reads) in rates.items():
        print(f"| {label} | {statistics.median(writes):,.0f} | {statistics.median(reads):,.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--windows", default="1,2,4,8", help="write windows to compare (stripes in flight)")
    args = parser.parse_args()
    began = time.monotonic()
    cluster = CephCluster.start()
    try:
        print(f"one-node Ceph cluster HEALTH_OK after {time.monotonic() - began:.1f} s", flush=True)
        cluster.create_pool(POOL)
        cluster.wait_clean()
        run(cluster, args.size_mib, args.repeats, [int(text) for text in args.windows.split(",")])
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
