"""Password hashing with scrypt (stdlib), a per-hash random salt and constant-time verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"


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
