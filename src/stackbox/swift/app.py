"""The Swift front end (placeholder until the Swift API lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackbox.http import ASGIApp, Receive, Scope, Send, text_response

if TYPE_CHECKING:
    from stackbox.app import Cloud


def create_swift_app(cloud: Cloud) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/healthcheck":
            await text_response("OK")(send)
        else:
            await text_response("Not Implemented", 501)(send)

    return app
