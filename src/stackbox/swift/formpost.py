"""FormPost: browsers upload files straight into a container with an HTML form signed by a temp URL
key. The form's fields (`redirect`, `max_file_size`, `max_file_count`, `expires`, `signature`) come
before the files; each file becomes the object `<path prefix><filename>`.

The form is parsed in memory, so its total size is capped at `MAX_FORM_BYTES`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import quote

from stackbox.http import BodyTooLarge, Response
from stackbox.storage.types import ObjectAttrs, StorageError
from stackbox.swift.context import Call
from stackbox.swift.errors import SwiftError
from stackbox.swift.tempurl import parse_signature, signing_keys

MAX_FORM_BYTES = 64 << 20
_FIELDS = ("redirect", "max_file_size", "max_file_count", "expires", "signature")


def is_form_post(call: Call) -> bool:
    return (call.method == "POST" and bool(call.container)
            and call.headers.get("content-type", "").startswith("multipart/form-data"))


async def form_post(call: Call) -> Response:
    parts = await _parts(call)
    fields = {name: _text(part) for part in parts if (name := _field_name(part)) in _FIELDS}
    _check_signature(call, fields)
    files = [part for part in parts if part.get_filename()]
    max_count = _int_field(fields, "max_file_count")
    max_size = _int_field(fields, "max_file_size")
    if len(files) > max_count:
        return _outcome(fields, 400, "max_file_count exceeded")
    for part in files:
        data = part.get_payload(decode=True)
        payload = data if isinstance(data, bytes) else b""
        if len(payload) > max_size:
            return _outcome(fields, 400, "max_file_size exceeded")
        problem = await _store(call, part, payload)
        if problem:
            return _outcome(fields, 400, problem)
    return _outcome(fields, 201, "")


async def _parts(call: Call) -> list[Message]:
    try:
        body = await call.request.body(MAX_FORM_BYTES)
    except BodyTooLarge:
        raise SwiftError(413) from None
    head = f"Content-Type: {call.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise SwiftError(400, "FormPost: invalid starting boundary")
    payload = message.get_payload()
    return [part for part in payload if isinstance(part, Message)] if isinstance(payload, list) else []


def _field_name(part: Message) -> str | None:
    return part.get_param("name", header="content-disposition")  # type: ignore[return-value]


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    return data.decode("utf-8", "replace").strip() if isinstance(data, bytes) else ""


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


async def _store(call: Call, part: Message, payload: bytes) -> str | None:
    prefix = call.obj
    key = prefix + (part.get_filename() or "")
    attrs = ObjectAttrs(content_type=part.get_content_type() if part.get("content-type") else
                        "application/octet-stream")
    try:
        await call.storage.put_object(call.account, call.container, key, _single(payload), attrs=attrs)
    except StorageError as error:
        return str(error)
    return None


async def _single(payload: bytes) -> AsyncIterator[bytes]:
    yield payload


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
