"""Password hashing with scrypt (stdlib), a per-hash random salt and constant-time verification.

Each check costs ~0.25 s of CPU, so the servers run them in a small thread pool (scrypt releases the
GIL) instead of on the event loop that also serves S3 and Swift; the number of checks waiting for
the pool is capped so a flood of guesses cannot queue without bound.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from stackbox.identity.errors import ServiceUnavailable

_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"
#: Threads per worker process computing hashes.
POOL_THREADS = 2
#: Checks a worker accepts at once (running or waiting); more are answered 503.
MAX_PENDING = 32

_T = TypeVar("_T")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = _derive(password, salt, _N, _R, _P)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


# Verifying against this when the user is unknown costs the same time as a real check,
# so response timing does not reveal which user names exist.
_DUMMY_HASH = hash_password("stackbox-no-such-user")


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches `stored`; a missing hash still spends the time of a check."""
    scheme, n, r, p, salt, digest = (stored or _DUMMY_HASH).split("$")
    if scheme != _SCHEME:
        return False
    candidate = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest)) and stored is not None


class _HashPool:
    """A bounded thread pool for the hashing, off the event loop."""

    def __init__(self, threads: int, max_pending: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password-hash")
        self._max_pending = max_pending
        self._pending = 0
        # On a database server the identity handlers await checks from several store threads.
        self._count_lock = threading.Lock()

    async def run(self, work: Callable[..., _T], *args: object) -> _T:
        with self._count_lock:
            if self._pending >= self._max_pending:
                raise ServiceUnavailable("Too many authentication requests are in progress; try again "
                                         "shortly.", retry_after=1)
            self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            with self._count_lock:
                self._pending -= 1


_POOL = _HashPool(POOL_THREADS, MAX_PENDING)


async def hash_password_async(password: str) -> str:
    return await _POOL.run(hash_password, password)


async def verify_password_async(password: str, stored: str | None) -> bool:
    return await _POOL.run(verify_password, password, stored)
