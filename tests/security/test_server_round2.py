"""Issue 7, round 2 (HTTP layer): pipelined requests are bounded.

uvicorn queues every request of each chunk it reads behind the one being answered, and reads the next
chunk after every answer. A client pipelining tiny requests (each read ending on a request boundary)
while reading answers grew that queue by a thousand requests per answer: four connections took
160 MB in four seconds, unauthenticated, without bound.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import pytest

from cloud import RunningCloud
from security.test_server_limits import connect, healthy, read_answer, workers_rss

MiB = 1 << 20


def _tiny_request(size: int = 64) -> bytes:
    head = b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nX-Pad: "
    return head + b"a" * (size - len(head) - 4) + b"\r\n\r\n"


def _pipeline_flood(port: int, seconds: float) -> None:
    """Batches of 1000 whole requests, one send each, while another thread reads the answers."""
    sock = connect(port)
    batch = _tiny_request() * 1000

    def drain() -> None:
        with contextlib.suppress(OSError):
            while sock.recv(MiB):
                pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            sock.sendall(batch)
            time.sleep(0.005)
    except OSError:
        pass  # closed by the server: what a bounded queue does to this client
    finally:
        sock.close()
        reader.join(5)


def test_a_pipelining_flood_does_not_grow_the_worker(cloud: RunningCloud) -> None:
    before = workers_rss(cloud)
    floods = [threading.Thread(target=_pipeline_flood, args=(cloud.object_port, 3.0)) for _ in range(4)]
    for flood in floods:
        flood.start()
    for flood in floods:
        flood.join(30)
    grown = workers_rss(cloud) - before
    assert grown < 24 * MiB, f"workers grew by {grown / MiB:.0f} MiB"
    assert healthy(cloud.object_port)


@pytest.mark.single_node("the node's own HTTP limits and timeouts; behind HAProxy the balancer's apply")
def test_too_many_pipelined_requests_close_the_connection(cloud: RunningCloud) -> None:
    """Past 64 waiting requests the connection closes; the answers already begun are not broken
    by a refusal written into them."""
    with connect(cloud.object_port) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(_tiny_request() * 1000)
        answer = read_answer(sock)
    assert set(_statuses(answer)) <= {b"200"}
    assert len(_statuses(answer)) <= 65
    assert b"Too Many Pipelined" not in answer


def test_ordinary_pipelining_is_answered_in_order(cloud: RunningCloud) -> None:
    """Compatibility guard: a client pipelining a few dozen requests gets every answer, in order."""
    requests = b"".join(b"GET /v1/AUTH_nobody/c%d HTTP/1.1\r\nHost: x\r\n\r\n" % index for index in range(40))
    with socket.create_connection(("127.0.0.1", cloud.object_port), timeout=10) as sock:
        sock.sendall(requests + b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_answer(sock)
    assert _statuses(answer) == [b"401"] * 40 + [b"200"]


def _statuses(answer: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
