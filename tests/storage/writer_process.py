"""A process that writes objects as fast as it can and prints each acknowledged write.

Used by test_recovery.py, which kills it with SIGKILL mid-flight. Usage:
    python writer_process.py DATA_DIR NAME [versioned]
Object data goes to the blob backend the environment's WRITER_BLOBS names (`file` by default), the
catalog to WRITER_METADATA's (`sqlite` by default, or a PostgreSQL URL).
Prints `<key> <version> <etag>` after each put_object returned (the acknowledgement), followed by
the version id when the container is versioned.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from stackbox.storage.engine import Engine

ACCOUNT = "AUTH_crash"
SIZES = (1_000, 70_000, 600_000, 2_500_000)
TASKS = 6


def content(key: str, version: int, size: int) -> bytes:
    seed = f"{key}:{version}:".encode()
    return (seed * (size // len(seed) + 1))[:size]


async def body(data: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), 256 * 1024):
        await asyncio.sleep(0)
        yield data[offset:offset + 256 * 1024]


async def writer(engine: Engine, name: str, task: int, versioned: bool) -> None:
    for version in range(1_000_000):
        # Alternate between fresh keys and overwrites of one key per task.
        key = f"{name}/{task}/shared" if version % 2 else f"{name}/{task}/{version:06d}"
        data = content(key, version, SIZES[version % len(SIZES)])
        obj = await engine.put_object(ACCOUNT, "crash", key, body(data))
        fields = [key, str(version), obj.etag, *([obj.version_id or ""] if versioned else [])]
        sys.stdout.write(" ".join(fields) + "\n")  # one write per acknowledgement
        sys.stdout.flush()


async def main(data_dir: Path, name: str, versioned: bool) -> None:
    engine = Engine(data_dir, blobs_url=os.environ.get("WRITER_BLOBS", "file"),
                    metadata=os.environ.get("WRITER_METADATA", "sqlite"))
    engine.create_container(ACCOUNT, "crash")
    if versioned:
        engine.set_versioning(ACCOUNT, "crash", "enabled")
    print("ready", flush=True)
    await asyncio.gather(*(writer(engine, name, task, versioned) for task in range(TASKS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:] == ["versioned"]))
