"""Finding the EC2 secret an S3 request (or a POST form) names, with S3's error for an unknown key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from stackbox.auth import Ec2Secret, SecretNotCached
from stackbox.s3.errors import S3Error

#: The identity service's cached lookup of an access key's secret (None: no such key, or revoked).
SecretLookup = Callable[[str], Ec2Secret | None]

_T = TypeVar("_T")


class SecretSource(Protocol):
    """The identity service's lookups of EC2 secrets (stackbox.identity.service.IdentityService)."""

    @property
    def remote(self) -> bool: ...

    def ec2_secret(self, access: str) -> Ec2Secret | None: ...

    def ec2_secret_cached(self, access: str) -> Ec2Secret | None: ...

    def ec2_secret_async(self, access: str) -> Awaitable[Ec2Secret | None]: ...


def known_secret(lookup: SecretLookup, access_key: str) -> Ec2Secret:
    secret = lookup(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=access_key)
    return secret


async def with_secret(source: SecretSource, check: Callable[[SecretLookup], _T]) -> _T:
    """`check(lookup)` (a signature check), never waiting on the database on the event loop.

    On a database server the first try answers from the worker's cache; on a miss the secret is
    fetched off the loop and the check runs again with it (parsing a signature twice costs far less
    than a round trip on the loop). Embedded, the lookup is inline as it is cheap.
    """
    if not source.remote:
        return check(source.ec2_secret)
    try:
        return check(source.ec2_secret_cached)
    except SecretNotCached as miss:
        wanted = miss.access_key
        fetched = await source.ec2_secret_async(wanted)

    def lookup(access: str) -> Ec2Secret | None:
        return fetched if access == wanted else source.ec2_secret(access)

    return check(lookup)
