"""64 MiB PUT/GET through the engine over loopback HTTP (uvicorn + uvloop + httptools), to choose
between hashing inline and in a thread by measurement (run on demand, not by pytest):

    .venv/bin/python bench/storage_http.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

MIB = 1 << 20
SIZE = 64 * MIB
ACCOUNT = "AUTH_measure"


def serve(data_dir: str, port: int, thread_min_chunk: int) -> None:
    import uvicorn

    from stackbox.storage import pipeline
    from stackbox.storage.engine import Engine

    pipeline.BACKGROUND_BATCH = thread_min_chunk
    engine = Engine(Path(data_dir), fsync=os.environ.get("MEASURE_FSYNC", "1") == "1")
    engine.create_container(ACCOUNT, "box")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        key = scope["path"].lstrip("/")
        if scope["method"] == "PUT":
            async def body() -> AsyncIterator[bytes]:
                while True:
                    message = await receive()
                    if message.get("body"):
                        yield message["body"]
                    if not message.get("more_body"):
                        return
            obj = await engine.put_object(ACCOUNT, "box", key, body())
            await send({"type": "http.response.start", "status": 201,
                        "headers": [(b"etag", obj.etag.encode()), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        obj = engine.head_object(ACCOUNT, "box", key)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(obj.size).encode())]})
        async for chunk in engine.read(obj):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")


def request(port: int, method: str, path: str, payload: bytes = b"") -> int:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (f"{method} /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n")
        sock.sendall(head.encode())
        if payload:
            sock.sendall(payload)
        buffer = bytearray(4 * MIB)
        received = 0
        while True:
            count = sock.recv_into(buffer)
            received += count
            if count == 0 or (method == "PUT" and b"\r\n\r\n" in buffer[:count]):
                return received


def measure(thread_min_chunk: int, repeats: int = 5) -> tuple[float, float]:
    port = 18000 + os.getpid() % 1000
    with tempfile.TemporaryDirectory() as directory:
        command = [sys.executable, __file__, "serve", directory, str(port), str(thread_min_chunk)]
        server = subprocess.Popen(command)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.1)
            payload = os.urandom(SIZE)
            puts, gets = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                request(port, "PUT", "large", payload)
                puts.append(SIZE / MIB / (time.perf_counter() - started))
                started = time.perf_counter()
                assert request(port, "GET", "large") >= SIZE
                gets.append(SIZE / MIB / (time.perf_counter() - started))
            return statistics.median(puts), statistics.median(gets)
        finally:
            server.terminate()
            server.wait()


def main() -> None:
    for round_ in range(2):
        for label, threshold in (("hash inline", 1 << 62), ("hash in thread", 256 * 1024)):
            put, get = measure(threshold)
            print(f"round {round_} {label:>15}: PUT {put:6.0f} MiB/s  GET {get:6.0f} MiB/s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        asyncio.run(asyncio.sleep(0))
        main()
