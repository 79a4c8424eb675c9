"""uvicorn's httptools protocol, keeping the case of response header names.

uvicorn writes every response header name in lower case. HTTP does not care, but Swift clients show
metadata names as they arrive (`openstack container show` prints `Color='blue'` against Swift, whose
headers are title-cased), so our front ends' spelling must reach the wire. The header block is still
built by uvicorn; only its names are given back the case the application used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class _HeaderCaseRestorer:
    """Stands in for the transport while uvicorn writes one header block."""

    __slots__ = ("_renames", "_transport")

    def __init__(self, transport: Any, renames: list[tuple[bytes, bytes]]) -> None:
        self._transport = transport
        self._renames = renames

    def write(self, data: bytes) -> None:
        for lowered, original in self._renames:
            data = data.replace(lowered, original, 1)
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _renames(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(b"\r\n" + name.lower() + b": ", b"\r\n" + name + b": ")
            for name, _ in headers if not name.islower()]


class _CasePreservingCycle(RequestResponseCycle):
    async def send(self, message: Any) -> None:
        if message["type"] != "http.response.start" or self.response_started:
            await super().send(message)
            return
        renames = _renames(message.get("headers", ()))
        if not renames:
            await super().send(message)
            return
        transport = self.transport
        self.transport = _HeaderCaseRestorer(transport, renames)  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport


class CasePreservingHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # uvicorn builds the cycle itself; its ASGI task has not run yet, so the class can still change
        if self.cycle is not None and type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = _CasePreservingCycle
