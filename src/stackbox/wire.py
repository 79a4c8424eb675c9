"""uvicorn's httptools protocol, bounded against abusive clients, keeping the case of response header names.

Bounds (`ConnectionLimits`, from the settings): a request line of at most 8 KiB (else 414), header
lines of at most 8 KiB and header blocks of at most 64 KiB (else 400, as Swift's eventlet answers)
and 256 headers (else 431); at most `max_pipelined` requests wait behind the one being answered
(more close the connection), and no more is read while any wait; a request head must arrive within
`header_timeout` seconds of its first byte (else 408), and a connection that sends nothing is closed
after that long too; a body (or a response the client does not read) may stall for at most
`body_timeout` seconds; a worker holds at most `max_connections` connections and refuses more with
503. Each refusal closes the connection.

uvicorn writes every response header name in lower case. HTTP does not care, but Swift clients show
metadata names as they arrive (`openstack container show` prints `Color='blue'` against Swift, whose
headers are title-cased), so our front ends' spelling must reach the wire. The header block is still
built by uvicorn; only its names are given back the case the application used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from stackbox.http import READ_TIMEOUT


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 30.0
    body_timeout: float = 60.0
    max_connections: int = 1000
    #: Swift's (eventlet's) limits: request line and header line 8 KiB, header block 64 KiB.
    max_request_line: int = 8192
    max_header_line: int = 8192
    max_header_block: int = 65536
    max_header_count: int = 256
    #: Pipelined requests queued behind the one in progress. uvicorn queues every request of each
    #: chunk it reads and reads again after each answer, so a client pipelining tiny requests while
    #: reading answers slowly grew the queue by thousands of requests (megabytes) per answer.
    max_pipelined: int = 64


class _Refused(Exception):
    """Raised in a parser callback: the request is answered with `status` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _refusal(status: int, reason: str) -> bytes:
    body = reason.encode()
    return b"".join([STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body])


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


class _Cycle(RequestResponseCycle):
    """One request: response header case restored, body reads and response writes bounded in idle time."""

    body_timeout: float
    timed_out: bool
    #: The client closed its sending side before the body was complete (it still reads the answer).
    cut_short: bool

    @classmethod
    def adopt(cls, cycle: RequestResponseCycle, body_timeout: float) -> None:
        """Turn the cycle uvicorn built into one of ours (its ASGI task has not run yet)."""
        cycle.__class__ = cls
        assert isinstance(cycle, cls)
        cycle.body_timeout = body_timeout
        cycle.timed_out = False
        cycle.cut_short = False

    async def send(self, message: Any) -> None:
        if self.flow.write_paused and not self.disconnected and not await self._drained():
            return
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

    async def receive(self) -> Any:
        if self.cut_short and not self.body:
            return {"type": "http.disconnect"}
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if self._awaiting_body():
            self.flow.resume_reading()
            try:
                await asyncio.wait_for(self.message_event.wait(), self.body_timeout)
            except TimeoutError:
                self.timed_out = True
                self.keep_alive = False
                return {"type": "http.disconnect", READ_TIMEOUT: True}
        return await super().receive()

    def _awaiting_body(self) -> bool:
        """The request body is not complete and nothing has arrived since the last receive."""
        finished = self.disconnected or self.response_complete
        return self.more_body and not finished and not self.message_event.is_set()

    async def send_500_response(self) -> None:
        """uvicorn's answer to an application that gave none: after a body timeout, that is 408."""
        if not self.timed_out:
            await super().send_500_response()
            return
        self.transport.write(_refusal(408, "Request Timeout"))
        self.transport.close()

    async def _drained(self) -> bool:
        """Wait for the client to read what was written; False (connection dropped) if it stalls."""
        try:
            await asyncio.wait_for(self.flow.drain(), self.body_timeout)
        except TimeoutError:
            self.disconnected = True
            self.transport.close()
            return False
        return True


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._reading_head = False
        self._head_bytes = 0
        self._heads_begun = 0
        self._refused: _Refused | None = None
        #: The parser stands between requests: the next bytes begin a request line.
        self._between_requests = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(_Refused(503, "Too many connections"))
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio.Protocol allows True
        """The client closed its sending side. In the middle of a request body, the body ended short:
        the application hears that and its answer (S3's IncompleteBody) still reaches the client, which
        can read; the connection closes after it. Otherwise it closes now, as uvicorn's does."""
        cycle = self.cycle
        if isinstance(cycle, _Cycle) and cycle.more_body and not cycle.response_complete:
            cycle.cut_short = True
            cycle.keep_alive = False
            cycle.message_event.set()
            return True
        return None

    def data_received(self, data: bytes) -> None:
        head_in_progress = self._reading_head
        heads_begun = self._heads_begun
        if self._between_requests:
            data = _escape_request_line(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if head_in_progress and self._reading_head and heads_begun == self._heads_begun:
            # The whole chunk belongs to one head; httptools buffers an unfinished header whole.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_request_line + self.limits.max_header_block:
                self._refuse(_Refused(400, "Headers Too Large"))
        elif self._idle():
            self._arm_head_timer()  # bytes that start no request (blank lines) must not hold the connection

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error, which is ours when a callback refused the request."""
        if self._refused is not None:
            self._refuse(self._refused)
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        self._between_requests = False
        super().on_message_begin()
        self._heads_begun += 1
        self._reading_head = True
        self._head_bytes = 0
        self._arm_head_timer()

    def on_message_complete(self) -> None:
        self._between_requests = True
        super().on_message_complete()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line:
            self._refused = _Refused(414, "Request URI Too Long")
            raise self._refused

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        self._check_header_block()
        if self._answering() and len(self.pipeline) >= self.limits.max_pipelined:
            self._refused = _Refused(503, "Too Many Pipelined Requests")
            raise self._refused
        super().on_headers_complete()
        if self.cycle is not None and type(self.cycle) is RequestResponseCycle:
            _Cycle.adopt(self.cycle, self.limits.body_timeout)

    def _check_header_block(self) -> None:
        """Refuse a header line, block or count over the limits. Checked once the head is parsed, not
        per header (a Python call per header costs ~1 us a request): data_received has already bounded
        the bytes an unfinished head may hold, so the parsed headers are bounded too."""
        limits = self.limits
        if len(self.headers) > limits.max_header_count:
            self._refused = _Refused(431, "Too Many Headers")
            raise self._refused
        block = 0
        for name, value in self.headers:
            line = len(name) + 2 + len(value)
            if line > limits.max_header_line:
                self._refused = _Refused(400, "Header Line Too Long")
                raise self._refused
            block += line + 2
        if block > limits.max_header_block:
            self._refused = _Refused(400, "Headers Too Large")
            raise self._refused

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.pipeline:
            self.flow.pause_reading()  # uvicorn resumes at once; read on when the queue is served

    def _answering(self) -> bool:
        """A response is being produced or requests wait for theirs."""
        return (self.cycle is not None and not self.cycle.response_complete) or bool(self.pipeline)

    def _idle(self) -> bool:
        return ((self.cycle is None or self.cycle.response_complete) and not self.pipeline
                and self.timeout_keep_alive_task is None)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_timer()  # a request is in flight; a pipelined head waits for it
        elif self._reading_head:
            self._refuse(_Refused(408, "Request Timeout"))
        else:
            self.transport.close()

    def _refuse(self, refused: _Refused) -> None:
        """Answer with the refusal and close; only close while earlier requests are being answered
        (the client would take the refusal for an earlier request's answer, or part of it)."""
        self._cancel_head_timer()
        if not self._answering():
            self.transport.write(_refusal(refused.status, refused.reason))
        self.transport.close()


def _escape_request_line(data: bytes) -> bytes:
    """Raw UTF-8 in a request line, as Swift (eventlet) accepts it and httptools does not: the bytes
    past ASCII of the chunk's first line are percent-encoded, which names the same path. Only a line
    that starts a chunk is seen (clients write a request head at once)."""
    end = data.find(b"\n")
    line = data if end < 0 else data[:end]
    if line.isascii():  # the usual case, also when a binary body follows the head in the same chunk
        return data
    return b"".join(b"%%%02X" % byte if byte > 0x7F else bytes((byte,)) for byte in line) + data[len(line):]


def bounded_protocol(limits: ConnectionLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to `limits`."""

    class ConfiguredHttpToolsProtocol(BoundedHttpToolsProtocol):
        pass

    ConfiguredHttpToolsProtocol.limits = limits
    return ConfiguredHttpToolsProtocol
