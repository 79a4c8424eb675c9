"""Replays pre-signed HEAD requests on N keep-alive connections and counts the answers.

wrk cannot replay raw HEAD requests: its parser does not know the request was a HEAD, so it waits for
the body that the Content-Length header announces and never gets. This replayer knows that every
answer is headers-only, so it only has to find the end of each header block. It runs on uvloop in
its own process; its ceiling is printed by the benchmark next to wrk's.

    python head_replay.py HOST PORT CONNECTIONS SECONDS FILE   # FILE: records as written for wrk
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from functools import partial
from typing import Any

import uvloop

RECORD_MARK = b"\n--stackbox-bench-record--\n"


class HeadClient(asyncio.Protocol):
    def __init__(self, records: list[bytes], offset: int, deadline: float,
                 done: asyncio.Future[None]) -> None:
        self.records = records
        self.index = offset
        self.deadline = deadline
        self.done = done
        self.buffer = b""
        self.ok = 0
        self.failed = 0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.send_next()

    def send_next(self) -> None:
        if time.monotonic() >= self.deadline:
            self.transport.close()
            return
        self.index = (self.index + 1) % len(self.records)
        self.transport.write(self.records[self.index])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
        if head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 204")):
            self.ok += 1
        else:
            self.failed += 1
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def replay(host: str, port: int, records: list[bytes], connections: int,
                 seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    deadline = started + seconds
    clients: list[HeadClient] = []
    for n in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        offset = n * len(records) // connections
        await loop.create_connection(partial(_remember, clients, records, offset, deadline, done), host, port)
    await asyncio.gather(*(client.done for client in clients))
    elapsed = time.monotonic() - started
    ok = sum(c.ok for c in clients)
    return {"requests": ok, "failed": sum(c.failed for c in clients), "seconds": elapsed, "ops": ok / elapsed}


def _remember(clients: list[HeadClient], records: list[bytes], offset: int, deadline: float,
              done: asyncio.Future[None]) -> HeadClient:
    client = HeadClient(records, offset, deadline, done)
    clients.append(client)
    return client


def main() -> None:
    host, port, connections, seconds, path = sys.argv[1:6]
    with open(path, "rb") as handle:
        records = [r for r in handle.read().split(RECORD_MARK) if r]
    result = uvloop.run(replay(host, int(port), records, int(connections), float(seconds)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
