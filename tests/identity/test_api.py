"""Keystone wire formats, breadth through keystoneauth/keystoneclient, and bad input."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from keystoneauth1 import session as ks_session

from cloud import RunningCloud
from identity.helpers import api, unique

MALFORMED = "Expecting to find valid JSON in request body."


def test_discovery(cloud: RunningCloud) -> None:
    root = api(cloud, "GET", "/")
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"] == "v3.14"
    version = api(cloud, "GET", "/v3")
    assert version.status_code == 200
    assert version.json()["version"]["links"][0]["href"] == f"{cloud.auth_url}/"


def test_keystoneauth_session_finds_endpoints(admin_session: ks_session.Session, cloud: RunningCloud) -> None:
    assert admin_session.get_endpoint(service_type="identity", interface="public") == cloud.auth_url
    project_id = admin_session.get_project_id()
    object_store = admin_session.get_endpoint(service_type="object-store", interface="public")
    assert object_store == f"{cloud.object_url}/v1/AUTH_{project_id}"


def test_token_body_and_validation(cloud: RunningCloud, admin_token: str) -> None:
    check = api(cloud, "GET", "/v3/auth/tokens", admin_token, headers={"X-Subject-Token": admin_token})
    assert check.status_code == 200 and check.headers["X-Subject-Token"] == admin_token
    token = check.json()["token"]
    assert token["methods"] == ["password"] and token["project"]["name"] == "admin"
    assert {role["name"] for role in token["roles"]} >= {"admin", "member", "reader"}
    assert token["expires_at"].endswith("Z") and len(token["audit_ids"]) == 1
    no_catalog = api(cloud, "GET", "/v3/auth/tokens?nocatalog", admin_token,
                     headers={"X-Subject-Token": admin_token})
    assert "catalog" not in no_catalog.json()["token"]
    head = api(cloud, "HEAD", "/v3/auth/tokens", admin_token, headers={"X-Subject-Token": admin_token})
    assert head.status_code == 200 and head.content == b""
    garbage = api(cloud, "GET", "/v3/auth/tokens", admin_token, headers={"X-Subject-Token": "gAAAAABgarbage"})
    assert garbage.status_code == 404
    assert garbage.json()["error"]["message"] == "Could not recognize Fernet token"


def test_keystoneclient_ec2_manager(keystone: Any, admin_session: ks_session.Session) -> None:
    user_id, project_id = admin_session.get_user_id(), admin_session.get_project_id()
    pair = keystone.ec2.create(user_id, project_id)
    assert pair.tenant_id == project_id and pair.access_token_id is None and pair.app_cred_id is None
    assert pair.access in [item.access for item in keystone.ec2.list(user_id)]
    assert keystone.ec2.get(user_id, pair.access).secret == pair.secret
    keystone.ec2.delete(user_id, pair.access)
    assert pair.access not in [item.access for item in keystone.ec2.list(user_id)]


def test_ec2_create_errors(cloud: RunningCloud, admin_token: str, admin_session: ks_session.Session) -> None:
    path = f"/v3/users/{admin_session.get_user_id()}/credentials/OS-EC2"
    for body in ({"project_id": "x"}, None):
        missing = api(cloud, "POST", path, admin_token, json=body)
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "Could not find project: None."
    unknown = api(cloud, "POST", path, admin_token, json={"tenant_id": "no-such-project"})
    assert unknown.json()["error"] == {"code": 404, "message": "Could not find project: no-such-project.",
                                       "title": "Not Found"}


def test_generic_credentials_api(cloud: RunningCloud, admin_token: str,
                                 admin_session: ks_session.Session) -> None:
    user_id, project_id = admin_session.get_user_id(), admin_session.get_project_id()
    access = unique("generic-access")
    blob = json.dumps({"access": access, "secret": "generic-secret"})
    body = {"credential": {"type": "ec2", "user_id": user_id, "project_id": project_id, "blob": blob}}
    created = api(cloud, "POST", "/v3/credentials", admin_token, json=body)
    assert created.status_code == 201
    credential_id = hashlib.sha256(access.encode()).hexdigest()
    assert created.json()["credential"]["id"] == credential_id
    duplicate = api(cloud, "POST", "/v3/credentials", admin_token, json=body)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["message"] == (
        f"Conflict occurred attempting to store credential - Duplicate entry found with ID {credential_id}.")
    via_ec2 = api(cloud, "GET", f"/v3/users/{user_id}/credentials/OS-EC2/{access}", admin_token)
    assert via_ec2.json()["credential"]["secret"] == "generic-secret"
    listed = api(cloud, "GET", f"/v3/credentials?type=ec2&user_id={user_id}", admin_token).json()
    assert credential_id in [item["id"] for item in listed["credentials"]]
    assert api(cloud, "DELETE", f"/v3/credentials/{credential_id}", admin_token).status_code == 204
    assert api(cloud, "GET", f"/v3/credentials/{credential_id}", admin_token).status_code == 404
    del body["credential"]["project_id"]
    no_project = api(cloud, "POST", "/v3/credentials", admin_token, json=body)
    assert no_project.status_code == 400
    assert no_project.json()["error"]["message"].endswith("'project_id' is a required property")


def test_error_bodies(cloud: RunningCloud, admin_token: str) -> None:
    malformed = api(cloud, "POST", "/v3/auth/tokens", data=b'{"auth": ',
                    headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["message"].startswith(MALFORMED)
    no_identity = api(cloud, "POST", "/v3/auth/tokens", json={"auth": {}})
    assert no_identity.status_code == 400 and "'identity' is a required property" in no_identity.text
    assert api(cloud, "POST", "/v3/projects", admin_token, data=b"[").status_code == 400
    bad_type = api(cloud, "POST", "/v3/projects", admin_token, json={"project": {"name": 12}})
    assert bad_type.json()["error"]["message"] == (
        "Invalid input for field/attribute name. Value: 12. 12 is not of type 'string'")
    unknown = api(cloud, "GET", "/v3/users/" + "0" * 32, admin_token)
    assert unknown.json()["error"] == {"code": 404, "message": f"Could not find user: {'0' * 32}.",
                                       "title": "Not Found"}
    name = unique("dup")
    project = {"project": {"name": name}}
    assert api(cloud, "POST", "/v3/projects", admin_token, json=project).status_code == 201
    duplicate = api(cloud, "POST", "/v3/projects", admin_token, json=project)
    assert duplicate.status_code == 409 and f"name is {name}" in duplicate.json()["error"]["message"]
    not_allowed = api(cloud, "PUT", "/v3/auth/tokens", json={})
    assert not_allowed.status_code == 405 and "POST" in not_allowed.headers["Allow"]
    bad_password = api(cloud, "POST", "/v3/auth/tokens", json=_password_auth("admin", "wrong"))
    no_user = api(cloud, "POST", "/v3/auth/tokens", json=_password_auth(unique("ghost"), "wrong"))
    assert bad_password.status_code == no_user.status_code == 401
    assert bad_password.json() == no_user.json()
    assert bad_password.headers["WWW-Authenticate"] == f'Keystone uri="{cloud.auth_url}"'


def _password_auth(user: str, password: str) -> dict[str, Any]:
    identity = {"methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}}
    return {"auth": {"identity": identity}}


def test_project_and_domain_scopes(cloud: RunningCloud, keystone: Any) -> None:
    auth = _password_auth("admin", cloud.admin_password)
    auth["auth"]["scope"] = {"domain": {"id": "default"}}
    assert api(cloud, "POST", "/v3/auth/tokens", json=auth).status_code == 401
    admin_user = keystone.users.find(name="admin")
    keystone.roles.grant(keystone.roles.find(name="reader"), user=admin_user, domain="default")
    domain_scoped = api(cloud, "POST", "/v3/auth/tokens", json=auth)
    assert domain_scoped.status_code == 201
    assert domain_scoped.json()["token"]["domain"] == {"id": "default", "name": "Default"}
    auth["auth"]["scope"] = "unscoped"
    unscoped = api(cloud, "POST", "/v3/auth/tokens", json=auth)
    assert unscoped.status_code == 201 and "roles" not in unscoped.json()["token"]
    projects = api(cloud, "GET", "/v3/auth/projects", unscoped.headers["X-Subject-Token"]).json()
    assert "admin" in [project["name"] for project in projects["projects"]]
