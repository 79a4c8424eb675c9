"""SigV4 signing keys: four chained HMACs per (secret, date, region, service), cached.

A key is valid for one UTC day, so a small cache turns the derivation into a dictionary hit
for every request of a busy access key.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

#: Distinct (secret, day, region, service) combinations kept; old days fall out first.
CACHE_SIZE = 4096


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


@lru_cache(maxsize=CACHE_SIZE)
def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """The derived key for `date` (YYYYMMDD): HMAC chain over date, region, service, `aws4_request`."""
    key = _hmac_sha256(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac_sha256(key, region)
    key = _hmac_sha256(key, service)
    return _hmac_sha256(key, "aws4_request")


def sign(key: bytes, string_to_sign: str) -> str:
    """The hex SigV4 signature of `string_to_sign` under a derived key."""
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
