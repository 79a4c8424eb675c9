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
from urllib.parse import quote

from stackbox.formdata import FormDataError, FormReader, field_name, form_boundary
from stackbox.http import Response, sendable
from stackbox.storage.types import EntityTooLarge, ObjectAttrs, StorageError, WriteChecks
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError
from stackbox.swift.headers import MAX_FILE_SIZE
from stackbox.swift.tempurl import parse_signature, signing_keys

_FIELDS = ("redirect", "max_file_size", "max_file_count", "expires", "signature")
#: Longer field values are cut here (the rest is read and dropped), as Swift does.
MAX_VALUE_LENGTH = 4096


def is_form_post(call: Call) -> bool:
    return (call.method == "POST" and bool(call.container)
            and call.headers.get("content-type", "").startswith("multipart/form-data"))


async def form_post(call: Call) -> Response:
    try:
        return await _read_form(call)
    except FormDataError as error:
        raise SwiftError(400, f"FormPost: {error}") from None


async def _read_form(call: Call) -> Response:
    boundary = form_boundary(call.headers["content-type"])
    if boundary is None:
        raise SwiftError(400, "FormPost: invalid starting boundary")
    form = FormReader(call.request.stream(), boundary)
    fields: dict[str, str] = {}
    stored = 0
    while (part := await form.next_part()) is not None:
        filename = part.get_filename()
        if not filename:  # a browser's empty file input is a field, as Swift reads it
            name = field_name(part)
            value, _ = await form.read_value(MAX_VALUE_LENGTH)
            if name in _FIELDS:
                fields[name] = value.decode("utf-8", "replace").strip()
            continue
        if not stored:
            await _check_signature(call, fields)
        if stored >= _int_field(fields, "max_file_count"):
            return _outcome(fields, 400, "max_file_count exceeded")
        problem = await _store(call, part, filename, form.part_data(), _int_field(fields, "max_file_size"))
        if problem:
            return _outcome(fields, 400, problem)
        stored += 1
    if not stored:
        await _check_signature(call, fields)
    return _outcome(fields, 201, "")


def _int_field(fields: dict[str, str], name: str) -> int:
    try:
        return int(fields.get(name, ""))
    except ValueError:
        raise SwiftError(400, f"FormPost: invalid {name}") from None


async def _check_signature(call: Call, fields: dict[str, str]) -> None:
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
    for key in await signing_keys(call):
        if hmac.compare_digest(hmac.new(key, message.encode(), digest).digest(), signature):
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
