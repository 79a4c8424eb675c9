"""The object port: Swift's `/v1/...`, `/info` and `/healthcheck`; everything else is S3."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackbox.http import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from stackbox.app import Cloud

SWIFT_PATHS = ("/info", "/healthcheck", "/v1")
#: Swift also answers these with extra leading slashes (its 404), so they never reach S3 as a bucket.
_SWIFT_FIRST_SEGMENTS = ("v1", "info", "healthcheck")


def is_swift_request(scope: Scope) -> bool:
    """Swift owns `/v1/...`, `/info` and `/healthcheck` unless the request carries S3 credentials
    (as in Swift's own s3api, which tells the two apart the same way: a bucket may be named `v1`)."""
    path: str = scope["path"]
    if not (path.startswith("/v1/") or path in SWIFT_PATHS
            or (path.startswith("//") and _slashed_swift_path(path))):
        return False
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:4] in (b"AWS ", b"AWS4"):
            return False
    query: bytes = scope.get("query_string", b"")
    return not (b"X-Amz-Credential=" in query or b"AWSAccessKeyId=" in query)


def _slashed_swift_path(path: str) -> bool:
    """`//v1/...`, `///info`...: a Swift path after more than one leading slash."""
    first = path.lstrip("/").partition("/")[0]
    return first in _SWIFT_FIRST_SEGMENTS


def create_object_app(cloud: Cloud) -> ASGIApp:
    from stackbox.s3.app import create_s3_app
    from stackbox.swift.app import create_swift_app

    s3_app = create_s3_app(cloud)
    swift_app = create_swift_app(cloud.store, cloud.identity)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if is_swift_request(scope):
            await swift_app(scope, receive, send)
        else:
            await s3_app(scope, receive, send)

    return app
