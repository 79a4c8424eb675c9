"""Fixtures for the security suite: the Swift and S3 suites' fixtures, reused as an attacker's tools.

Each test here is one finding of the security review, sent as an attacker would send it (raw HTTP
where a client library would refuse to), and fails on the code before its fix.
"""

from __future__ import annotations

from s3.conftest import admin, bucket, make_client, make_pair, member, s3  # noqa: F401
from swift.conftest import admin_session, admin_swift, conn, container, make_user, user_swift  # noqa: F401
