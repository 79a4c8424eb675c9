"""Swift CORS: containers configured with python-swiftclient (X-Container-Meta-Access-Control-*),
anonymous preflights and the CORS headers of actual answers sent as a browser sends them, and the
operator's settings (cors_allow_origin, cors_expose_headers, strict_cors_mode). CORS never grants
access: a cross-origin request is authorized like any other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import swiftclient

from cloud import RunningCloud, start_cloud
from swift.conftest import MakeUser, User, connection
from swift.helpers import Swift, unique

APP, OTHER = "https://app.example", "https://other.example"


def cors_of(answer: requests.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in answer.headers.items()
            if name.lower().startswith("access-control-") or name.lower() in ("vary", "allow")}


def listed(value: str) -> set[str]:
    return {item.strip() for item in value.split(",")}


@pytest.fixture
def container(conn: swiftclient.Connection) -> str:
    name = unique("cors")
    conn.put_container(name)
    conn.post_container(name, {"X-Container-Meta-Access-Control-Allow-Origin": f"{APP} http://localhost:3000",
                               "X-Container-Meta-Access-Control-Max-Age": "300",
                               "X-Container-Meta-Access-Control-Expose-Headers": "X-Custom"})
    conn.put_object(name, "obj", b"hello", headers={"X-Object-Meta-Color": "red"})
    return name


def test_preflight(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    assert conn.head_container(container)["x-container-meta-access-control-max-age"] == "300"
    allowed = admin_swift("OPTIONS", f"/{container}/obj", token=None, headers={
        "Origin": APP, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "X-Auth-Token, content-type"})
    assert (allowed.status_code, allowed.content) == (200, b"")
    headers = cors_of(allowed)
    assert listed(headers.pop("allow")) == listed(headers.pop("access-control-allow-methods")) == {
        "OPTIONS", "DELETE", "GET", "POST", "PUT", "HEAD", "COPY"}
    assert headers == {"access-control-allow-origin": APP, "access-control-max-age": "300",
                       "access-control-allow-headers": "x-auth-token, content-type",
                       "vary": "Origin, Access-Control-Request-Headers"}
    for refused in ({"Origin": OTHER, "Access-Control-Request-Method": "GET"},
                    {"Origin": APP, "Access-Control-Request-Method": "PATCH"},
                    {"Origin": APP}):
        answer = admin_swift("OPTIONS", f"/{container}/obj", token=None, headers=refused)
        assert answer.status_code == 401, refused
        assert "access-control-allow-origin" not in cors_of(answer)
    missing = admin_swift("OPTIONS", f"/{container}-none/obj", token=None,
                          headers={"Origin": APP, "Access-Control-Request-Method": "GET"})
    assert missing.status_code == 401
    plain = admin_swift("OPTIONS", f"/{container}", token=None)
    assert plain.status_code == 200 and "COPY" not in plain.headers["Allow"]


def test_actual_answers(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    answer = admin_swift("GET", f"/{container}/obj", headers={"Origin": APP})
    assert (answer.status_code, answer.content) == (200, b"hello")
    headers = cors_of(answer)
    assert (headers["access-control-allow-origin"], headers["vary"]) == (APP, "Origin")
    exposed = listed(headers["access-control-expose-headers"])
    assert {"etag", "x-timestamp", "x-trans-id", "x-openstack-request-id", "x-object-meta-color",
            "x-custom"} <= exposed
    assert "access-control-allow-origin" not in cors_of(admin_swift("GET", f"/{container}/obj",
                                                                    headers={"Origin": OTHER}))
    assert "access-control-allow-origin" not in cors_of(admin_swift("GET", f"/{container}/obj"))
    listing = admin_swift("GET", f"/{container}", headers={"Origin": APP})
    assert cors_of(listing)["vary"].startswith("Origin")
    missing = admin_swift("GET", f"/{container}/none", headers={"Origin": APP})
    assert missing.status_code == 404 and cors_of(missing)["access-control-allow-origin"] == APP
    headers_seen, _ = conn.get_object(container, "obj", headers={"Origin": APP})
    assert headers_seen["access-control-allow-origin"] == APP


def test_cors_grants_no_access(admin_swift: Swift, make_user: MakeUser, cloud: RunningCloud,
                               container: str) -> None:
    """A preflight that passes does not make the request it announces authorized."""
    stranger: User = make_user("member")
    other = connection(cloud, stranger.name, stranger.password, stranger.project_name)
    token = other.get_auth()[1]
    for token_sent in (None, token):
        answer = admin_swift("GET", f"/{container}/obj", token=token_sent, headers={"Origin": APP})
        assert answer.status_code in (401, 403)
        assert answer.content != b"hello"
    put = admin_swift("PUT", f"/{container}/planted", token=None, data=b"x", headers={"Origin": APP})
    assert put.status_code == 401
    assert admin_swift("HEAD", f"/{container}/planted").status_code == 404


@pytest.fixture(scope="module")
def operator_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(Path(tmp_path_factory.mktemp("cors")) / "data", workers=1, extra_env={
        "STACKBOX_CORS_ALLOW_ORIGIN": "https://ops.example, https://ops2.example",
        "STACKBOX_CORS_EXPOSE_HEADERS": "X-Ops", "STACKBOX_STRICT_CORS_MODE": "false"})
    yield running
    running.stop()


def test_operator_settings(operator_cloud: RunningCloud) -> None:
    conn = connection(operator_cloud, "admin", operator_cloud.admin_password, "admin")
    storage_url, token = conn.get_auth()
    conn.put_container("plain")
    conn.put_object("plain", "obj", b"data")
    preflight = requests.options(f"{storage_url}/plain/obj", timeout=10, headers={
        "Origin": "https://ops2.example", "Access-Control-Request-Method": "GET"})
    assert cors_of(preflight)["access-control-allow-origin"] == "https://ops2.example"
    refused = requests.options(f"{storage_url}/plain/obj", timeout=10, headers={
        "Origin": APP, "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 401
    # strict_cors_mode off: actual answers carry CORS headers for any origin, as Swift's do
    answer = requests.get(f"{storage_url}/plain/obj", timeout=10,
                          headers={"X-Auth-Token": token, "Origin": APP})
    assert cors_of(answer)["access-control-allow-origin"] == APP
    assert "X-Ops" in listed(cors_of(answer)["access-control-expose-headers"])


def test_options_on_info(cloud: RunningCloud) -> None:
    for headers in ({}, {"Origin": APP, "Access-Control-Request-Method": "GET"}):
        answer = requests.options(f"{cloud.object_url}/info", headers=headers, timeout=10)
        assert (answer.status_code, answer.content) == (200, b"")
        assert answer.headers["Allow"] == "HEAD, GET, OPTIONS"
        assert "access-control-allow-origin" not in cors_of(answer)
