"""Swift findings of issue 7 about bounded work (9, 11, 13, 14), sent as an attacker would.

Each request is cheap to send and used to cost the server far more than it costs the client:
a FormPost parsed before its signature, a Range of thousands of overlapping ranges, bulk requests
that froze a worker, an archive that expanded past the object size limit.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import socket
import tarfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
import swiftclient

from cloud import RunningCloud
from swift.helpers import Swift, unique

FORM_KEY = "form-key"
#: What a form claims to send; the tests send only its beginning, as a slow or lying client would.
DECLARED_FORM_LENGTH = 64 << 20
MAX_BULK_DELETES = 10_000
BULK_ATTACKERS = 6
#: One byte past Swift's object size limit (5 GiB + 2).
OVER_THE_LIMIT = 5 * 1024**3 + 3


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


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    return call(), time.monotonic() - started


def test_healthcheck_answers_while_big_bulk_deletes_run(cloud: RunningCloud, admin_swift: Swift,
                                                        container: str) -> None:
    # The attacker needs no objects: paths that do not exist are walked all the same.
    paths = "".join(f"/{container}/gone-{index}\n" for index in range(MAX_BULK_DELETES))

    def bulk_delete() -> requests.Response:
        return admin_swift("POST", "?bulk-delete", data=paths, headers={"Accept": "application/json"})

    with ThreadPoolExecutor(max_workers=BULK_ATTACKERS) as pool:
        deletes = [pool.submit(_timed, bulk_delete) for _ in range(BULK_ATTACKERS)]
        slowest = 0.0
        while not all(delete.done() for delete in deletes):
            answer, took = _timed(lambda: requests.get(f"{cloud.object_url}/healthcheck", timeout=30))
            assert answer.text == "OK"
            slowest = max(slowest, took)
            time.sleep(0.02)
        results = [delete.result() for delete in deletes]
    assert all(answer.json()["Number Not Found"] == MAX_BULK_DELETES for answer, _ in results)
    # A worker that runs a bulk request without yielding answers nothing else until it is done.
    shortest_bulk = min(took for _, took in results)
    assert slowest < 0.5 * shortest_bulk, (slowest, shortest_bulk)


def _sparse_bomb(name: str, size: int) -> bytes:
    """One tar member: a GNU sparse file of `size` bytes, all hole, that carries no data at all."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[483:495] = tarfile.itn(size, 12, tarfile.GNU_FORMAT)  # the expanded ("real") size
    checksum = 256 + sum(header[:148]) + sum(header[156:512])  # its 8 bytes counted as spaces
    header[148:155] = b"%06o\0" % checksum
    return bytes(header)


def test_extract_archive_refuses_members_over_the_object_size_limit(admin_swift: Swift,
                                                                     container: str) -> None:
    archive = _sparse_bomb("bomb.bin", OVER_THE_LIMIT) + _tar({"fine.txt": b"fine"})
    assert len(archive) < 16384  # ~10 KiB claiming over 5 GiB
    answer = admin_swift("PUT", f"/{container}?extract-archive=tar", data=archive,
                         headers={"Accept": "application/json"})
    report = answer.json()
    assert report["Errors"] == [[f"/{container}/bomb.bin", "413 Request Entity Too Large"]]
    assert (report["Number Files Created"], report["Response Status"]) == (1, "400 Bad Request")
    assert admin_swift("HEAD", f"/{container}/bomb.bin").status_code == 404
    assert admin_swift("GET", f"/{container}/fine.txt").content == b"fine"
