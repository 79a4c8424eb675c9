"""Swift findings of issue 7 about bounded work (9, 11, 13, 14), sent as an attacker would.

Each request is cheap to send and used to cost the server far more than it costs the client:
a FormPost parsed before its signature, a Range of thousands of overlapping ranges, bulk requests
that froze a worker, an archive that expanded past the object size limit.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
import uuid

import swiftclient

from cloud import RunningCloud
from swift.helpers import Swift, unique

FORM_KEY = "form-key"
#: What a form claims to send; the tests send only its beginning, as a slow or lying client would.
DECLARED_FORM_LENGTH = 64 << 20


def _form_fields(path: str, *, max_file_size: int = 1 << 20, max_file_count: int = 5,
                 expires_in: int = 60, key: str = FORM_KEY) -> dict[str, str]:
    expires = int(time.time()) + expires_in
    message = f"{path}\n\n{max_file_size}\n{max_file_count}\n{expires}"
    signature = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {"redirect": "", "max_file_size": str(max_file_size), "max_file_count": str(max_file_count),
            "expires": str(expires), "signature": signature}


def _form_start(boundary: str, fields: dict[str, str], file_bytes: bytes) -> bytes:
    """The fields, then a file part whose data starts with `file_bytes` and is never finished."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n")
    return "".join(parts).encode() + file_bytes


def _post_partial_form(cloud: RunningCloud, path: str, fields: dict[str, str],
                       file_bytes: bytes = b"x" * 65536) -> tuple[int, bytes]:
    """POST a form declared 64 MiB long, send only its start, and read the answer (a server that
    waits for the rest of the body never answers: the read times out)."""
    boundary = uuid.uuid4().hex
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {DECLARED_FORM_LENGTH}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", cloud.object_port), timeout=5) as sock:
        sock.sendall(head + _form_start(boundary, fields, file_bytes))
        return _read_response(sock)


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), body


def test_egregious_range_sets_are_refused_as_swift_refuses_them(admin_swift: Swift,
                                                                 conn: swiftclient.Connection,
                                                                 container: str) -> None:
    data = bytes(range(256)) * 4
    conn.put_object(container, "r", data)

    def get(ranges: list[str]) -> tuple[int, int]:
        answer = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=" + ",".join(ranges)})
        return answer.status_code, len(answer.content)

    refused = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=" + ",".join(["0-"] * 1000)})
    assert (refused.status_code, refused.headers["Content-Range"]) == (416, "bytes */1024")
    assert len(refused.content) < 200
    # Swift's limits (swob): 50 ranges, 2 overlapping pairs, 8 ranges out of order.
    assert get([f"{i}-{i}" for i in range(50)])[0] == 206
    assert get([f"{i}-{i}" for i in range(51)])[0] == 416
    assert get(["0-9", "5-14", "10-19"])[0] == 206
    assert get(["0-9", "5-14", "10-19", "15-24"])[0] == 416
    assert get([f"{i}-{i}" for i in range(7, 0, -1)])[0] == 206
    assert get([f"{i}-{i}" for i in range(8, 0, -1)])[0] == 416


def test_formpost_signature_is_checked_before_the_file_is_read(cloud: RunningCloud, admin_swift: Swift,
                                                                conn: swiftclient.Connection) -> None:
    name = unique("form")
    conn.put_container(name, headers={"X-Container-Meta-Temp-URL-Key": FORM_KEY})
    path = f"/v1/{admin_swift.account}/{name}/"
    forged = _post_partial_form(cloud, path, _form_fields(path, key="not-the-key"))
    assert forged == (401, b"FormPost: Invalid Signature")
    expired = _post_partial_form(cloud, path, _form_fields(path, expires_in=-10))
    assert expired == (401, b"FormPost: Form Expired")
    assert conn.get_container(name)[1] == []


def test_formpost_max_file_size_is_enforced_while_the_file_streams(cloud: RunningCloud, admin_swift: Swift,
                                                                    conn: swiftclient.Connection) -> None:
    name = unique("form")
    conn.put_container(name, headers={"X-Container-Meta-Temp-URL-Key": FORM_KEY})
    path = f"/v1/{admin_swift.account}/{name}/"
    status, body = _post_partial_form(cloud, path, _form_fields(path, max_file_size=1000))
    assert (status, b"max_file_size exceeded" in body) == (400, True)
    assert conn.get_container(name)[1] == []
