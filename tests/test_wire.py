"""Response header names reach the wire spelled as the front ends wrote them (Swift clients show them)."""

from __future__ import annotations

import http.client

import keystoneauth1.identity.v3 as v3
import pytest
import swiftclient
from keystoneauth1.session import Session

from cloud import RunningCloud


def raw_header_names(cloud: RunningCloud, method: str, path: str, token: str = "") -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", cloud.object_port, timeout=10)
    conn.request(method, path, headers={"X-Auth-Token": token} if token else {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return [name for name, _ in response.getheaders()]


@pytest.mark.single_node("HAProxy sends every header name in lower case (HTTP/1 names are case-insensitive)")
def test_swift_metadata_names_keep_their_case(cloud: RunningCloud) -> None:
    auth = v3.Password(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                       project_name="admin", user_domain_id="default", project_domain_id="default")
    session = Session(auth=auth)
    conn = swiftclient.Connection(session=session)
    conn.put_container("wire-case", headers={"X-Container-Meta-Color": "blue"})
    account = f"/v1/AUTH_{session.get_project_id()}"
    names = raw_header_names(cloud, "HEAD", f"{account}/wire-case", session.get_token() or "")
    assert "X-Container-Meta-Color" in names
    assert "X-Trans-Id" in names and "x-trans-id" not in names
    assert "X-Container-Object-Count" in names


def test_lowercase_names_stay_lowercase(cloud: RunningCloud) -> None:
    names = raw_header_names(cloud, "GET", "/healthcheck")
    assert "content-length" in names
