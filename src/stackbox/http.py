"""Small ASGI pieces shared by the three front ends: a request view, responses, a body reader.

Kept deliberately thin (raw ASGI, no framework) because the object data path is measured in
tens of thousands of requests per second per core.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]


#: What a response header value may not hold (uvicorn refuses to send it, the answer is lost).
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")

#: Set in the `http.disconnect` message the server sends when the body stalled too long (see wire.py).
READ_TIMEOUT = "stackbox.read_timeout"


class ClientDisconnected(Exception):
    """The client went away before the request body was complete."""


class RequestTimeout(ClientDisconnected):
    """The client stopped sending the body; the connection closes after the answer."""


class BodyTooLarge(Exception):
    """The request body exceeds the limit the handler set."""


class Request:
    """A read-only view of an ASGI HTTP request plus its body stream."""

    __slots__ = ("_query", "headers", "method", "path", "query_string", "raw_headers", "raw_path",
                 "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        raw_path = scope.get("raw_path")
        self.raw_path: str = raw_path.decode("latin-1") if raw_path else scope["path"]
        self.query_string: str = scope.get("query_string", b"").decode("latin-1")
        self.raw_headers: RawHeaders = scope["headers"]
        self.headers: dict[str, str] = _header_dict(self.raw_headers)
        self._query: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, decoded; the first value of a repeated name wins."""
        if self._query is None:
            parsed: dict[str, str] = {}
            for name, value in parse_qsl(self.query_string, keep_blank_values=True):
                parsed.setdefault(name, value)
            self._query = parsed
        return self._query

    @property
    def path_is_clean(self) -> bool:
        """The path is UTF-8 without NUL. uvicorn decodes invalid sequences to U+FFFD, which would
        make different raw names (`%FF%FE`, `%FE%FF`) one; front ends refuse such paths."""
        if "\x00" in self.path:
            return False
        return "\ufffd" not in self.path or clean_unquote(self.raw_path) is not None

    @property
    def client_host(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else ""

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives; raise ClientDisconnected if it stops short."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise RequestTimeout() if message.get(READ_TIMEOUT) else ClientDisconnected()
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    async def body(self, limit: int = 1 << 20) -> bytes:
        """The whole body, for small control documents (JSON, XML). Raises BodyTooLarge past `limit`."""
        return await read_limited(self.stream(), limit)


def clean_unquote(value: str) -> str | None:
    """Percent-decode a name (a raw path, or a header value as latin-1) as UTF-8; None if it is not
    UTF-8 or holds NUL, which must be refused rather than mapped onto another name."""
    try:
        decoded = unquote_to_bytes(value.encode("latin-1")).decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None
    return None if "\x00" in decoded else decoded


def sendable(value: str) -> bool:
    """Whether `value` can be a response header value. Values from request headers always can (the
    parser refuses control characters); check those from anywhere else (form parts, archives)
    before storing what is answered as a header."""
    return _UNSENDABLE.search(value) is None


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Join a small body from its chunks; raise BodyTooLarge as soon as it passes `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        parts.append(chunk)
    return b"".join(parts)


def _header_dict(raw: RawHeaders) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name_b, value_b in raw:
        name = name_b.decode("latin-1").lower()
        value = value_b.decode("latin-1")
        if name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value
    return headers


def encode_headers(headers: Iterable[tuple[str, str]]) -> RawHeaders:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class Response:
    """A complete response whose body is already in memory."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, body: bytes = b"", status: int = 200,
                 headers: Iterable[tuple[str, str]] | None = None,
                 content_type: str | None = None) -> None:
        self.body = body
        self.status = status
        self.headers: list[tuple[str, str]] = list(headers) if headers else []
        if content_type is not None:
            self.headers.append(("content-type", content_type))

    async def __call__(self, send: Send) -> None:
        raw = encode_headers(self.headers)
        if not any(name == b"content-length" for name, _ in raw):
            raw.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


class StreamingResponse(Response):
    """A response whose body comes from an async iterator (object data)."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: AsyncIterator[bytes], status: int = 200,
                 headers: Iterable[tuple[str, str]] | None = None,
                 content_type: str | None = None) -> None:
        super().__init__(b"", status, headers, content_type)
        self.chunks = chunks

    async def __call__(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": encode_headers(self.headers)})
        try:
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b""})


def json_response(payload: Any, status: int = 200,
                  headers: Iterable[tuple[str, str]] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, "application/json")


def text_response(text: str, status: int = 200,
                  headers: Iterable[tuple[str, str]] | None = None,
                  content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(text.encode(), status, headers, content_type)
