"""The S3 front end (placeholder until the S3 API lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackbox.http import ASGIApp, Receive, Request, Scope, Send
from stackbox.s3.errors import S3Error

if TYPE_CHECKING:
    from stackbox.app import Cloud


def create_s3_app(cloud: Cloud) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        await S3Error("NotImplemented").response(request.path)(send)

    return app
