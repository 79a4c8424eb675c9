"""Replays pre-signed requests on N keep-alive connections, for what wrk cannot measure.

- HEAD requests: wrk's parser does not know a raw request was a HEAD, so it waits for the body the
  Content-Length header announces and never gets. This replayer knows which requests were HEADs.
- DELETE requests counted once: a DELETE replayed a second time measures a no-op (S3 answers 204 for a
  missing key, Swift 404). `--once` sends every record exactly once, spread over the connections, and
  stops when all are answered.

It runs on uvloop in its own process; the benchmark prints its ceiling next to wrk's.

    python pyreplay.py HOST PORT CONNECTIONS SECONDS FILE [--once]   # FILE: records as written for wrk
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
SUCCESS = (b"HTTP/1.1 200", b"HTTP/1.1 201", b"HTTP/1.1 204")


class Feed:
    """Hands out the next record: round robin until a deadline, or each record once."""

    def __init__(self, records: list[bytes], deadline: float, once: bool) -> None:
        self.records = records
        self.deadline = deadline
        self.once = once
        self.next_index = 0

    def take(self) -> bytes | None:
        if self.once:
            if self.next_index >= len(self.records):
                return None
        elif time.monotonic() >= self.deadline:
            return None
        record = self.records[self.next_index % len(self.records)]
        self.next_index += 1
        return record


class Client(asyncio.Protocol):
    def __init__(self, feed: Feed, done: asyncio.Future[None]) -> None:
        self.feed = feed
        self.done = done
        self.buffer = b""
        self.is_head = False
        self.status_line = b""
        self.body_left: int | None = None  # None: still reading the header block
        self.ok = 0
        self.failed = 0
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport subclasses

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.send_next()

    def send_next(self) -> None:
        record = self.feed.take()
        if record is None:
            self.transport.close()
            return
        self.is_head = record.startswith(b"HEAD ")
        self.transport.write(record)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.body_left is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
                self.status_line = head.split(b"\r\n", 1)[0]
                self.body_left = 0 if self.is_head else _content_length(head)
            if len(self.buffer) < self.body_left:
                return
            self.buffer = self.buffer[self.body_left:]
            self.body_left = None
            if self.status_line.startswith(SUCCESS):
                self.ok += 1
            else:
                self.failed += 1
            self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


async def replay(host: str, port: int, records: list[bytes], connections: int, seconds: float,
                 once: bool) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    feed = Feed(records, started + seconds, once)
    clients: list[Client] = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        _, protocol = await loop.create_connection(partial(Client, feed, done), host, port)
        clients.append(protocol)
    await asyncio.gather(*(client.done for client in clients))
    elapsed = time.monotonic() - started
    ok = sum(c.ok for c in clients)
    return {"requests": ok, "failed": sum(c.failed for c in clients), "seconds": elapsed, "ops": ok / elapsed}


def main() -> None:
    host, port, connections, seconds, path = sys.argv[1:6]
    once = "--once" in sys.argv[6:]
    with open(path, "rb") as handle:
        records = [r for r in handle.read().split(RECORD_MARK) if r]
    result = uvloop.run(replay(host, int(port), records, int(connections), float(seconds), once))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
