"""Findings 7 and 12: request heads are bounded in size and time, bodies in idle time, connections in number.

Sent as an attacker would, over raw sockets: a client library would never send a 16 MB header.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from botocore.client import BaseClient

from cloud import RunningCloud, start_cloud

pytestmark = pytest.mark.single_node(
    "the node's own HTTP limits and timeouts; behind HAProxy, the balancer's apply first")

MiB = 1 << 20


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (b"" if it just closed it)."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def send_ignoring_close(sock: socket.socket, data: bytes) -> None:
    """Send `data`; the server may close the connection before it has all of it."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def status(answer: bytes) -> int:
    """The status code of the first answer on the connection (0 if none)."""
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 else 0


def workers_rss(cloud: RunningCloud) -> int:
    return sum(child.memory_info().rss for child in psutil.Process(cloud.process.pid).children())


def healthy(port: int) -> bool:
    with connect(port) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return status(read_answer(sock)) == 200


# ---------------------------------------------------------------------------------- 7: head size


def test_a_header_line_over_8_kib_is_refused_and_the_connection_closed(cloud: RunningCloud) -> None:
    with connect(cloud.object_port) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        answer = read_answer(sock)
    assert status(answer) == 400
    assert answer.endswith(b"\r\n\r\nHeader Line Too Long")
    assert b"connection: close" in answer.lower()


def test_a_header_block_over_64_kib_is_refused(cloud: RunningCloud) -> None:
    headers = b"".join(b"X-Meta-%d: %s\r\n" % (index, b"v" * 1000) for index in range(70))
    with connect(cloud.object_port) as sock:
        send_ignoring_close(sock, b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        answer = read_answer(sock)
    assert status(answer) == 400
    assert answer.endswith(b"\r\n\r\nHeaders Too Large")


def test_too_many_headers_are_refused(cloud: RunningCloud) -> None:
    headers = b"".join(b"X-%d: v\r\n" % index for index in range(300))
    with connect(cloud.identity_port) as sock:
        sock.sendall(b"GET /v3 HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        answer = read_answer(sock)
    assert status(answer) == 431


def test_a_request_line_over_8_kib_is_refused_with_414(cloud: RunningCloud) -> None:
    with connect(cloud.object_port) as sock:
        send_ignoring_close(sock, b"GET /v1/AUTH_x/" + b"o" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_answer(sock)
    assert status(answer) == 414


def test_huge_unfinished_header_blocks_are_not_buffered(cloud: RunningCloud) -> None:
    """Four connections each sending 16 MiB of one header value: the worker drops them early
    instead of holding 64 MiB (the review saw 2 GB with four 500 MB blocks)."""
    before = workers_rss(cloud)
    sockets = [connect(cloud.object_port) for _ in range(4)]
    try:
        for sock in sockets:
            send_ignoring_close(sock, b"PUT /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 * MiB))
        grown = workers_rss(cloud) - before
        answers = [read_answer(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert grown < 16 * MiB
    assert all(status(answer) == 400 for answer in answers)
    assert healthy(cloud.object_port)


def test_ordinary_requests_with_many_small_headers_still_work(cloud: RunningCloud) -> None:
    headers = b"".join(b"X-Object-Meta-K%d: %s\r\n" % (index, b"v" * 200) for index in range(90))
    with connect(cloud.object_port) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n")
        assert status(read_answer(sock)) == 200


# ---------------------------------------------------------------------------------- 12: timeouts


@pytest.fixture(scope="module")
def strict_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """A cloud of one worker with short timeouts and room for few connections."""
    running = start_cloud(Path(tmp_path_factory.mktemp("strict")) / "data", workers=1, extra_env={
        "STACKBOX_HEADER_TIMEOUT": "1", "STACKBOX_BODY_TIMEOUT": "1", "STACKBOX_KEEP_ALIVE_TIMEOUT": "1",
        "STACKBOX_MAX_CONNECTIONS": "20",
    })
    yield running
    running.stop(signal.SIGTERM)


def test_a_slow_loris_head_is_answered_408_and_closed(strict_cloud: RunningCloud) -> None:
    with connect(strict_cloud.object_port) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        for _ in range(3):  # a byte now and then, as a slow-loris client keeps a connection alive
            time.sleep(0.4)
            send_ignoring_close(sock, b"X")
        answer = read_answer(sock)
        waited = time.monotonic() - started
    assert status(answer) == 408
    assert waited < 3


def test_a_silent_connection_is_closed(strict_cloud: RunningCloud) -> None:
    with connect(strict_cloud.object_port) as sock:
        started = time.monotonic()
        assert read_answer(sock) == b""
        assert time.monotonic() - started < 3


def test_a_stalled_body_is_answered_and_closed(strict_cloud: RunningCloud) -> None:
    with connect(strict_cloud.object_port) as sock:
        sock.sendall(b"PUT /v1/AUTH_x/c/o HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10)
        started = time.monotonic()
        answer = read_answer(sock)
        waited = time.monotonic() - started
    # Unauthenticated: Swift answers before it reads the body; the connection still closes.
    assert status(answer) == 401
    assert waited < 3


def test_a_stalled_swift_upload_gets_408(strict_cloud: RunningCloud) -> None:
    token = _admin_token(strict_cloud)
    account = _admin_account(strict_cloud, token)
    with connect(strict_cloud.object_port) as sock:
        sock.sendall(f"PUT {account}/slow HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
        assert status(read_answer(sock)) == 201
    with connect(strict_cloud.object_port) as sock:
        sock.sendall(f"PUT {account}/slow/o HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                     "Content-Length: 1000\r\n\r\n".encode() + b"a" * 10)
        started = time.monotonic()
        answer = read_answer(sock)
        waited = time.monotonic() - started
    assert status(answer) == 408
    assert b"connection: close" in answer.lower()
    assert waited < 3


def test_a_stalled_s3_upload_gets_request_timeout(strict_cloud: RunningCloud) -> None:
    bucket = "stalled-" + uuid.uuid4().hex[:8]
    _admin_s3(strict_cloud).create_bucket(Bucket=bucket, ACL="public-read-write")
    with connect(strict_cloud.object_port) as sock:
        head = f"PUT /{bucket}/o HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        sock.sendall(head.encode() + b"a" * 10)
        started = time.monotonic()
        answer = read_answer(sock)
        waited = time.monotonic() - started
    assert status(answer) == 400
    assert b"<Code>RequestTimeout</Code>" in answer
    assert waited < 3


@pytest.fixture(scope="module")
def crowded_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """A cloud of one worker with room for 20 connections and a head timeout long enough that idle
    connections stay held while a loaded machine opens them (strict_cloud's 1 s would drop them)."""
    running = start_cloud(Path(tmp_path_factory.mktemp("crowded")) / "data", workers=1, extra_env={
        "STACKBOX_HEADER_TIMEOUT": "60", "STACKBOX_MAX_CONNECTIONS": "20"})
    yield running
    running.stop(signal.SIGTERM)


def healthcheck_status(port: int) -> int:
    with connect(port) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return status(read_answer(sock))


def test_connections_past_the_limit_are_refused_and_others_still_served(crowded_cloud: RunningCloud) -> None:
    port = crowded_cloud.object_port
    held = [connect(port) for _ in range(20)]
    try:
        # The worker counts a held connection once it has accepted it: ask until all 20 are counted.
        deadline = time.monotonic() + 20
        while (answer := healthcheck_status(port)) != 503:
            assert answer == 200 and time.monotonic() < deadline, answer
            time.sleep(0.1)
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 20  # and once it has seen them closed, it serves again
    while not healthy(port):
        assert time.monotonic() < deadline, "the closed connections' slots were never freed"
        time.sleep(0.1)


def test_the_server_answers_others_while_slow_clients_hold_connections(strict_cloud: RunningCloud) -> None:
    slow = [connect(strict_cloud.object_port) for _ in range(5)]
    try:
        for sock in slow:
            sock.sendall(b"GET /healthcheck HTTP/1.1\r\n")
        assert healthy(strict_cloud.object_port)
        time.sleep(1.5)
        # the slow clients were dropped after the head timeout: their slots are free again
        assert all(status(read_answer(sock)) == 408 for sock in slow)
    finally:
        for sock in slow:
            sock.close()


def _admin_token(cloud: RunningCloud) -> str:
    import requests

    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    response = requests.post(f"{cloud.auth_url}/auth/tokens", json=body, timeout=10)
    response.raise_for_status()
    return str(response.headers["X-Subject-Token"])


def _admin_s3(cloud: RunningCloud) -> BaseClient:
    import requests

    token = _admin_token(cloud)
    scope = requests.get(f"{cloud.auth_url}/auth/tokens", timeout=10,
                         headers={"X-Auth-Token": token, "X-Subject-Token": token}).json()["token"]
    created = requests.post(f"{cloud.auth_url}/users/{scope['user']['id']}/credentials/OS-EC2", timeout=10,
                            headers={"X-Auth-Token": token}, json={"tenant_id": scope["project"]["id"]})
    credential = created.json()["credential"]
    return boto3.client("s3", endpoint_url=cloud.object_url, region_name="us-east-1",
                        aws_access_key_id=credential["access"], aws_secret_access_key=credential["secret"])


def _admin_account(cloud: RunningCloud, token: str) -> str:
    import requests

    response = requests.get(f"{cloud.auth_url}/auth/tokens", timeout=10,
                            headers={"X-Auth-Token": token, "X-Subject-Token": token})
    return f"/v1/AUTH_{response.json()['token']['project']['id']}"
