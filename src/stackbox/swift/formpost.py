"""FormPost: browsers upload files straight into a container with an HTML form signed by a temp URL
key. The form's fields (`redirect`, `max_file_size`, `max_file_count`, `expires`, `signature`) come
before the files; each file becomes the object `<path prefix><filename>`.

The form is read as it arrives, as Swift's formpost middleware reads it: field values are kept up to
`MAX_VALUE_LENGTH` bytes, the signature is checked when the first file starts (before any of its
bytes are read), and each file streams into the store with `max_file_size` enforced as it flows.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import quote

from stackbox.http import Response, sendable
from stackbox.storage.types import EntityTooLarge, ObjectAttrs, StorageError, WriteChecks
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError
from stackbox.swift.headers import MAX_FILE_SIZE
from stackbox.swift.tempurl import parse_signature, signing_keys

_FIELDS = ("redirect", "max_file_size", "max_file_count", "expires", "signature")
#: Longer field values are cut here (the rest is read and dropped), as Swift does.
MAX_VALUE_LENGTH = 4096
#: A part's header block; browsers send two short lines.
MAX_PART_HEADER_BYTES = 16384


def is_form_post(call: Call) -> bool:
    return (call.method == "POST" and bool(call.container)
            and call.headers.get("content-type", "").startswith("multipart/form-data"))


async def form_post(call: Call) -> Response:
    form = _FormReader(call.request.stream(), _boundary(call))
    fields: dict[str, str] = {}
    stored = 0
    while (part := await form.next_part()) is not None:
        filename = part.get_filename()
        if not filename:  # a browser's empty file input is a field, as Swift reads it
            name = _field_name(part)
            value = await form.read_value(MAX_VALUE_LENGTH)
            if name in _FIELDS:
                fields[name] = value.decode("utf-8", "replace").strip()
            continue
        if not stored:
            _check_signature(call, fields)
        if stored >= _int_field(fields, "max_file_count"):
            return _outcome(fields, 400, "max_file_count exceeded")
        problem = await _store(call, part, filename, form.part_data(), _int_field(fields, "max_file_size"))
        if problem:
            return _outcome(fields, 400, problem)
        stored += 1
    if not stored:
        _check_signature(call, fields)
    return _outcome(fields, 201, "")


def _boundary(call: Call) -> bytes:
    header = Message()
    header["content-type"] = call.headers["content-type"]
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise SwiftError(400, "FormPost: invalid starting boundary")
    return boundary.encode("latin-1")


def _field_name(part: Message) -> str | None:
    name = part.get_param("name", header="content-disposition")
    return name.lower() if isinstance(name, str) else None


def _int_field(fields: dict[str, str], name: str) -> int:
    try:
        return int(fields.get(name, ""))
    except ValueError:
        raise SwiftError(400, f"FormPost: invalid {name}") from None


def _check_signature(call: Call, fields: dict[str, str]) -> None:
    try:
        expires = int(fields.get("expires", ""))
    except ValueError:
        raise SwiftError(401, "FormPost: Invalid Signature") from None
    if expires < time.time():
        raise SwiftError(401, "FormPost: Form Expired")
    path = call.request.path
    message = "\n".join([path, *(fields.get(name, "") for name in _FIELDS[:4])])
    try:
        digest, signature = parse_signature(fields.get("signature", ""))
    except SwiftError:
        raise SwiftError(401, "FormPost: Invalid Signature") from None
    for key in signing_keys(call):
        if hmac.compare_digest(hmac.new(key.encode(), message.encode(), digest).digest(), signature):
            return
    raise SwiftError(401, "FormPost: Invalid Signature")


async def _store(call: Call, part: Message, filename: str, data: AsyncIterator[bytes],
                 max_file_size: int) -> str | None:
    key = call.obj + filename
    content_type = part.get_content_type() if part.get("content-type") else "application/octet-stream"
    if not sendable(content_type):
        return "invalid Content-Type"
    attrs = ObjectAttrs(content_type=content_type)
    checks = WriteChecks(max_length=min(max_file_size, MAX_FILE_SIZE))
    try:
        await call.storage.put_object(call.account, call.container, key, data, attrs=attrs, checks=checks)
    except EntityTooLarge:
        return "max_file_size exceeded"
    except StorageError as error:
        return str(error)
    return None


def _outcome(fields: dict[str, str], status: int, message: str) -> Response:
    status_line = f"{status} Created" if status == 201 else f"{status} Bad Request"
    redirect = fields.get("redirect")
    if redirect:
        separator = "&" if "?" in redirect else "?"
        location = f"{redirect}{separator}status={status}&message={quote(message)}"
        return Response(f'<html><body><p><a href="{location}">Click to continue...</a></p></body></html>'
                        .encode(), 303, [("Location", location)], "text/html; charset=UTF-8")
    body = f"<html><body><p>{status_line}: {message}</p></body></html>" if message else status_line
    return Response(body.encode(), status, content_type="text/html; charset=UTF-8")


class _FormReader:
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

    async def read_value(self, limit: int) -> bytes:
        """The current part's data, cut at `limit` bytes (the rest is read and dropped)."""
        kept = b""
        async for chunk in self.part_data():
            kept += chunk[: max(limit - len(kept), 0)]
        return kept

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
                raise SwiftError(400, "FormPost: unexpected end of form")

    async def _skip_preamble(self) -> None:
        keep = len(self._delimiter) - 1
        while (found := self._buffer.find(self._delimiter)) < 0:
            self._buffer = self._buffer[-keep:]
            if not await self._fill():
                raise SwiftError(400, "FormPost: invalid starting boundary")
        self._buffer = self._buffer[found + len(self._delimiter):]

    async def _read_until(self, marker: bytes, limit: int) -> bytes:
        while (found := self._buffer.find(marker)) < 0:
            if len(self._buffer) > limit or not await self._fill():
                raise SwiftError(400, "FormPost: invalid form part headers")
        head, self._buffer = self._buffer[:found], self._buffer[found + len(marker):]
        return head

    async def _fill(self) -> bool:
        chunk = await anext(self._chunks, b"")
        self._buffer += chunk
        return bool(chunk)
