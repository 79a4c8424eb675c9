"""Finding the EC2 secret an S3 request (or a POST form) names, with S3's error for an unknown key."""

from __future__ import annotations

from collections.abc import Callable

from stackbox.auth import Ec2Secret
from stackbox.s3.errors import S3Error

#: The identity service's cached lookup of an access key's secret (None: no such key, or revoked).
SecretLookup = Callable[[str], Ec2Secret | None]


def known_secret(lookup: SecretLookup, access_key: str) -> Ec2Secret:
    secret = lookup(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=access_key)
    return secret
