"""Measurements behind the engine's tuning constants (run on demand, not by pytest):

    .venv/bin/python bench/storage_engine.py [--keys 200000]

- inline threshold: 4 KiB / 64 KiB / 256 KiB PUT+GET stored inline in the row vs as a blob file;
- 64 MiB PUT/GET with 1 MiB chunks hashed/written/read inline on the event loop vs in a thread;
- listing: one 1000-key page (plain and with a delimiter) from a container of --keys keys.

Figures measured once on the shared 2-core machine (fsync on), which set the constants:
  4 KiB PUT: inline in the row ~3,800-4,400/s vs blob file ~1,100-2,400/s; 64 KiB: equal (~2,000/s)
    -> ingest.INLINE_LIMIT = 64 KiB. GET of small objects: ~72,000/s (4 KiB), same either way.
  64 MiB GET from the page cache: 1 MiB preads inline ~7.5 GB/s vs through a thread ~3.5-4.5 GB/s
    -> reads stay on the event loop (engine.THREAD_READ_MIN).
  64 MiB PUT over loopback HTTP (storage_http.py, client on the same 2 cores): ~385 MiB/s whether
    MD5 runs inline or in a thread; with the background fdatasync every 8 MiB, ~430-450 MiB/s
    (ceiling without any fsync ~470 MiB/s); GET ~1.5-2 GiB/s.
  --keys 1000000: a 1000-key page 3.0 ms; prefix + delimiter 0.27 ms; a delimiter page rolling up
    100 prefixes of 10,000 keys each 3.9 ms (target < 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from stackbox.storage import engine as engine_module
from stackbox.storage import ingest, pipeline
from stackbox.storage.engine import Engine
from stackbox.storage.metadata import NewObject
from stackbox.storage.types import NO_PRECONDITIONS, ObjectAttrs

ACCOUNT = "AUTH_measure"
MIB = 1 << 20


async def body(data: bytes, chunk: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), chunk):
        # Stands in for the socket read + HTTP parsing the event loop does per chunk.
        yield bytes(memoryview(data)[offset:offset + chunk])


async def small_objects(engine: Engine, size: int, inline_limit: int, count: int) -> tuple[float, float]:
    ingest.INLINE_LIMIT = inline_limit
    data = os.urandom(size)
    started = time.perf_counter()
    for index in range(count):
        await engine.put_object(ACCOUNT, "box", f"small/{size}/{inline_limit}/{index}", body(data, 64 * 1024))
    put_rate = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for index in range(count):
        obj = engine.head_object(ACCOUNT, "box", f"small/{size}/{inline_limit}/{index}")
        async for _ in engine.read(obj):
            pass
    return put_rate, count / (time.perf_counter() - started)


async def large_object(engine: Engine, threaded: bool, repeats: int = 3) -> tuple[float, float]:
    pipeline.BACKGROUND_BATCH = MIB if threaded else 1 << 62
    engine_module.THREAD_READ_MIN = 0 if threaded else 1 << 62
    data = os.urandom(64 * MIB)
    puts, gets = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        obj = await engine.put_object(ACCOUNT, "box", "large", body(data, MIB))
        puts.append(64 / (time.perf_counter() - started))
        started = time.perf_counter()
        async for _ in engine.read(obj):
            pass
        gets.append(64 / (time.perf_counter() - started))
    return statistics.median(puts), statistics.median(gets)


def fill(engine: Engine, keys: int) -> None:
    ref = engine._catalog.container_ref(ACCOUNT, "list")
    batch = 50_000
    for start in range(0, keys, batch):
        with engine._catalog.write() as conn:
            for index in range(start, min(keys, start + batch)):
                key = f"dir{index % 100:02d}/sub{index % 7}/object-{index:08d}"
                new = NewObject(1, "etag", ObjectAttrs(), inline=b"x")
                engine._catalog.store_object(conn, ref, key, new, NO_PRECONDITIONS, 0.0)


def timed_ms(action: Callable[[], object], repeats: int = 20) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def main(keys: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("MEASURE_DIR")) as directory:
        engine = Engine(Path(directory))
        engine.create_container(ACCOUNT, "box")
        engine.create_container(ACCOUNT, "list")
        for size in (4096, 65536, 262144):
            for limit in (0, 1 << 20):
                put, get = await small_objects(engine, size, limit, 500)
                where = "inline" if limit else "blob"
                print(f"{size:>7} B {where:>6}: PUT {put:8.0f}/s  GET {get:8.0f}/s")
        ingest.INLINE_LIMIT = 64 * 1024
        for threaded in (False, True):
            put, get = await large_object(engine, threaded)
            print(f"64 MiB {'thread' if threaded else 'inline'}: PUT {put:6.0f} MiB/s  GET {get:6.0f} MiB/s")
        fill(engine, keys)
        plain = timed_ms(lambda: engine.list_objects(ACCOUNT, "list", marker="dir50", limit=1000))
        rolled = timed_ms(lambda: engine.list_objects(ACCOUNT, "list", prefix="dir50/", delimiter="/"))
        top = timed_ms(lambda: engine.list_objects(ACCOUNT, "list", delimiter="/", limit=1000))
        print(f"listing {keys} keys: 1000-key page {plain:.2f} ms; prefix+delimiter {rolled:.2f} ms; "
              f"top-level delimiter (100 prefixes) {top:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().keys))
