"""Paths at the edges of Swift's routing, answered as Swift 2.38's proxy answers them (captured from the
reference): extra slashes never reach S3, empty segments are 404, a bare `/v1` is 412."""

from __future__ import annotations

import socket

import pytest
import requests

from cloud import RunningCloud
from swift.helpers import Swift

NOT_FOUND = "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"


MALFORMED = ["//v1/{account}", "//v1/{account}/c", "///v1/{account}/c/o", "//v1", "//v1/", "//info",
             "//healthcheck", "/v1//", "/v1//c", "/v1//c/o", "/v1/{account}//o"]


@pytest.mark.parametrize("path", MALFORMED)
@pytest.mark.parametrize("with_token", [True, False])
def test_malformed_swift_paths_are_swift_404s(admin_swift: Swift, path: str, with_token: bool) -> None:
    headers = {"X-Auth-Token": admin_swift.token} if with_token and admin_swift.token else {}
    answer = requests.get(admin_swift.cloud.object_url + path.format(account=admin_swift.account),
                          headers=headers, timeout=10)
    assert (answer.status_code, answer.text) == (404, NOT_FOUND)
    assert answer.headers["X-Trans-Id"].startswith("tx")  # Swift's answer, not S3's XML


@pytest.mark.parametrize("path", ["/v1", "/v1/"])
def test_bare_version_is_bad_url(cloud: RunningCloud, path: str) -> None:
    answer = requests.get(cloud.object_url + path, timeout=10)
    assert (answer.status_code, answer.text) == (412, "Bad URL")


def test_a_container_path_with_a_double_slash_keeps_working(admin_swift: Swift) -> None:
    """Only the segments before the object must be non-empty: `c//o` is the object `/o`."""
    assert admin_swift("PUT", "/edges").status_code in (201, 202)
    assert admin_swift("PUT", "/edges//o", data=b"x").status_code == 201
    assert admin_swift("GET", "/edges?format=json").json()[0]["name"] == "/o"
    assert admin_swift("DELETE", "/edges//o").status_code == 204


def test_a_newline_in_the_path_neither_breaks_the_challenge_nor_the_connection(cloud: RunningCloud) -> None:
    with socket.create_connection(("127.0.0.1", cloud.object_port), timeout=10) as sock:
        request = b"GET /v1/AUTH_a%0Ab/c HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(request + request)
        received = b""
        while received.count(b"HTTP/1.1 401 ") < 2:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    assert b'www-authenticate: swift realm="auth_a%0ab"' in received.lower()
