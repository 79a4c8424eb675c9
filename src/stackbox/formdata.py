"""A streaming `multipart/form-data` reader shared by the browser-upload front ends (Swift FormPost,
S3 POST object): parts are read one by one as the body arrives, field values up to a caller's
limit, file data in chunks, so a form is never held whole in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

#: A part's header block; browsers send two short lines.
MAX_PART_HEADER_BYTES = 16384


class FormDataError(Exception):
    """The body is not well-formed multipart/form-data (the message says where it broke)."""


def form_boundary(content_type: str) -> bytes | None:
    """The boundary of a `multipart/form-data` Content-Type, or None if it is not one."""
    header = Message()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        return None
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        return None
    try:
        return boundary.encode("latin-1")
    except UnicodeEncodeError:
        return None


def field_name(part: Message) -> str | None:
    """The part's form field name, lower-cased (form field names are case-insensitive)."""
    name = part.get_param("name", header="content-disposition")
    return name.lower() if isinstance(name, str) else None


class FormReader:
    """A `multipart/form-data` body read part by part as it arrives, never held whole."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._delimiter = b"\r\n--" + boundary
        # The first boundary line has no CRLF before it; one is supplied so every delimiter looks alike.
        self._buffer = b"\r\n"
        self._in_part = False
        self._started = False

    async def next_part(self) -> Message | None:
        """The headers of the next part (its data is read next), or None at the closing delimiter."""
        if self._in_part:
            async for _ in self.part_data():
                pass
        elif not self._started:
            await self._skip_preamble()
        self._started = True
        while len(self._buffer) < 2 and await self._fill():
            pass
        if self._buffer.startswith(b"--"):
            return None
        head = await self._read_until(b"\r\n\r\n", MAX_PART_HEADER_BYTES)
        self._in_part = True
        return BytesParser(policy=HTTP).parsebytes(head.partition(b"\r\n")[2] + b"\r\n\r\n",
                                                    headersonly=True)

    async def read_value(self, limit: int) -> tuple[bytes, bool]:
        """The current part's data cut at `limit` bytes (the rest is read and dropped), and whether
        it was cut."""
        kept = b""
        cut = False
        async for chunk in self.part_data():
            room = max(limit - len(kept), 0)
            cut = cut or len(chunk) > room
            kept += chunk[:room]
        return kept, cut

    async def part_data(self) -> AsyncIterator[bytes]:
        """The current part's data in chunks, up to the next delimiter."""
        keep = len(self._delimiter) - 1
        while self._in_part:
            found = self._buffer.find(self._delimiter)
            if found >= 0:
                data, self._buffer = self._buffer[:found], self._buffer[found + len(self._delimiter):]
                self._in_part = False
            else:
                cut = max(len(self._buffer) - keep, 0)
                data, self._buffer = self._buffer[:cut], self._buffer[cut:]
            if data:
                yield data
            if self._in_part and not await self._fill():
                raise FormDataError("unexpected end of form")

    async def _skip_preamble(self) -> None:
        keep = len(self._delimiter) - 1
        while (found := self._buffer.find(self._delimiter)) < 0:
            self._buffer = self._buffer[-keep:]
            if not await self._fill():
                raise FormDataError("invalid starting boundary")
        self._buffer = self._buffer[found + len(self._delimiter):]

    async def _read_until(self, marker: bytes, limit: int) -> bytes:
        while (found := self._buffer.find(marker)) < 0:
            if len(self._buffer) > limit or not await self._fill():
                raise FormDataError("invalid form part headers")
        head, self._buffer = self._buffer[:found], self._buffer[found + len(marker):]
        return head

    async def _fill(self) -> bool:
        chunk = await anext(self._chunks, b"")
        self._buffer += chunk
        return bool(chunk)
