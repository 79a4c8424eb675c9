"""Answers that must read exactly like real Keystone 30's (diffed against it request by request)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from keystoneauth1 import session as ks_session

from cloud import RunningCloud
from identity.helpers import Account, api, unique

CLIENT_IN_ERROR = ("The server could not comply with the request since it is either malformed or otherwise "
                   "incorrect. The client is assumed to be in error.")
TOKENS = "/v3/auth/tokens"


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == status
    return str(body["message"])


def _password(name: str, password: str, **user: Any) -> dict[str, Any]:
    reference = {"name": name, "password": password, **user}
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": reference}}}}


@pytest.fixture
def member(make_account: Callable[[str], Account]) -> Account:
    return make_account("member")


@pytest.mark.parametrize(("body", "message"), [
    ({}, f"Expecting to find auth in request body. {CLIENT_IN_ERROR}"),
    ({"auth": {"identity": {}}}, "Invalid input for field 'identity': 'methods' is a required property"),
    ({"auth": {"identity": {"methods": ["password"]}}},
     f"Expecting to find password in identity. {CLIENT_IN_ERROR}"),
    ({"auth": {"identity": {"methods": ["password"], "password": {}}}},
     f"Expecting to find user in None. {CLIENT_IN_ERROR}"),
    ({"auth": {"identity": {"methods": ["password"], "password": {"user": {}}}}},
     "Invalid input for field identity/password/user: id or name must be present."),
    (_password("admin", "x"), f"Expecting to find domain in user. {CLIENT_IN_ERROR}"),
    (_password("admin", "x", domain={}),
     "Invalid input for field identity/password/user/domain: id or name must be present."),
])
def test_malformed_auth_requests(cloud: RunningCloud, body: dict[str, Any], message: str) -> None:
    assert _error(api(cloud, "POST", TOKENS, json=body), 400) == message


def test_unsupported_method_lists_the_supported_ones(cloud: RunningCloud) -> None:
    body = {"auth": {"identity": {"methods": ["bogus"], "bogus": {}}}}
    error = api(cloud, "POST", TOKENS, json=body).json()["error"]
    assert error == {"code": 401, "identity": {"methods": ["password", "token", "application_credential"]},
                     "message": "Attempted to authenticate with an unsupported method.",
                     "title": "Unauthorized"}
    assert _error(api(cloud, "POST", TOKENS, json={"auth": {"identity": {"methods": []}}}), 401) == (
        "The request you have made requires authentication.")


def test_project_scope_by_name_needs_a_domain(cloud: RunningCloud, member: Account) -> None:
    body = _password(member.name, member.password, domain={"id": "default"})
    body["auth"]["scope"] = {"project": {"name": member.project_name}}
    assert _error(api(cloud, "POST", TOKENS, json=body), 400) == (
        f"Expecting to find domain in project. {CLIENT_IN_ERROR}")


def test_rescoped_token_lists_both_methods(cloud: RunningCloud, member: Account) -> None:
    login = _password(member.name, member.password, domain={"id": "default"})
    unscoped = api(cloud, "POST", TOKENS, json=login)
    token = unscoped.headers["X-Subject-Token"]
    rescope = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                        "scope": {"project": {"id": member.project_id}}}}
    scoped = api(cloud, "POST", TOKENS, json=rescope).json()["token"]
    assert scoped["methods"] == ["password", "token"] and len(scoped["audit_ids"]) == 2
    garbage = {"auth": {"identity": {"methods": ["token"], "token": {"id": "garbage"}}}}
    assert _error(api(cloud, "POST", TOKENS, json=garbage), 404) == "Could not recognize Fernet token"
    api(cloud, "DELETE", TOKENS, token, headers={"X-Subject-Token": token})
    revoked = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}
    assert _error(api(cloud, "POST", TOKENS, json=revoked), 404) == "Failed to validate token"


def test_validate_policy_for_non_admins(cloud: RunningCloud, member: Account, admin_token: str) -> None:
    token = member.token(cloud)
    garbage = api(cloud, "GET", TOKENS, token, headers={"X-Subject-Token": "garbage"})
    assert _error(garbage, 404) == "Could not recognize Fernet token"
    forbidden = "You are not authorized to perform the requested action: identity:validate_token."
    assert _error(api(cloud, "GET", TOKENS, token), 403) == forbidden
    someone_else = api(cloud, "GET", TOKENS, token, headers={"X-Subject-Token": admin_token})
    assert _error(someone_else, 403) == forbidden
    assert api(cloud, "GET", TOKENS, admin_token, headers={"X-Subject-Token": token}).status_code == 200


def test_auth_catalog_links_only_self(cloud: RunningCloud, admin_token: str) -> None:
    links = api(cloud, "GET", "/v3/auth/catalog", admin_token).json()["links"]
    assert links == {"self": f"{cloud.auth_url}/auth/catalog"}


def test_unknown_path_is_the_frameworks_html_404(cloud: RunningCloud) -> None:
    missing = api(cloud, "GET", "/v3/no-such-thing")
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>404 Not Found</title>" in missing.text
    only_post = api(cloud, "GET", "/v3/s3tokens")
    assert only_post.status_code == 405 and only_post.headers["Allow"] == "POST"


# EC2 and generic credentials ----------------------------------------------------------------------


def test_ec2_lookups_follow_the_credentials_owner(cloud: RunningCloud, member: Account,
                                                  admin_session: ks_session.Session) -> None:
    token, admin_id = member.token(cloud), admin_session.get_user_id()
    own = f"/v3/users/{member.user_id}/credentials/OS-EC2"
    created = api(cloud, "POST", own, token, json={"tenant_id": member.project_id})
    access = created.json()["credential"]["access"]
    # Keystone decides by the pair's owner; the user id in the path is not compared with it.
    via_other_path = api(cloud, "GET", f"/v3/users/{admin_id}/credentials/OS-EC2/{access}", token)
    assert via_other_path.status_code == 200
    assert via_other_path.json()["credential"]["user_id"] == member.user_id
    admin_pair = api(cloud, "POST", f"/v3/users/{admin_id}/credentials/OS-EC2", admin_session.get_token(),
                     json={"tenant_id": admin_session.get_project_id()}).json()["credential"]["access"]
    stolen = api(cloud, "GET", f"{own}/{admin_pair}", token)
    assert _error(stolen, 403).endswith("identity:ec2_get_credential.")
    assert api(cloud, "DELETE", f"/v3/users/{admin_id}/credentials/OS-EC2/{access}", token).status_code == 204
    assert _error(api(cloud, "GET", f"{own}/{access}", token), 404) == (
        f"Could not find credential: {hashlib.sha256(access.encode()).hexdigest()}.")


def test_ec2_request_errors(cloud: RunningCloud, admin_token: str) -> None:
    assert _error(api(cloud, "GET", "/v3/users/nouser/credentials/OS-EC2", admin_token), 404) == (
        "Could not find user: nouser.")
    me = api(cloud, "GET", TOKENS, admin_token, headers={"X-Subject-Token": admin_token}).json()["token"]
    not_an_object = api(cloud, "POST", f"/v3/users/{me['user']['id']}/credentials/OS-EC2", admin_token,
                        data=b"[1]", headers={"Content-Type": "application/json"})
    assert _error(not_an_object, 400).startswith("Expecting to find valid JSON in request body.")


def test_generic_credentials_for_non_admins(cloud: RunningCloud, member: Account,
                                            admin_session: ks_session.Session) -> None:
    token = member.token(cloud)
    api(cloud, "POST", f"/v3/users/{member.user_id}/credentials/OS-EC2", token,
        json={"tenant_id": member.project_id})
    mine = api(cloud, "GET", f"/v3/credentials?user_id={member.user_id}", token).json()["credentials"]
    assert [item["user_id"] for item in mine] == [member.user_id]
    others = api(cloud, "GET", f"/v3/credentials?user_id={admin_session.get_user_id()}", token)
    assert others.status_code == 200 and others.json()["credentials"] == []


def test_credential_update_takes_only_the_blob(cloud: RunningCloud, admin_token: str,
                                               admin_session: ks_session.Session) -> None:
    access = unique("patch")
    body = {"credential": {"type": "ec2", "user_id": admin_session.get_user_id(),
                           "project_id": admin_session.get_project_id(),
                           "blob": json.dumps({"access": access, "secret": "one"})}}
    credential_id = api(cloud, "POST", "/v3/credentials", admin_token, json=body).json()["credential"]["id"]
    path = f"/v3/credentials/{credential_id}"
    moved = api(cloud, "PATCH", path, admin_token, json={"credential": {"project_id": "x"}})
    assert _error(moved, 400) == ("Invalid input for field/attribute credential. Value: {'project_id': 'x'}. "
                                  "Additional properties are not allowed ('project_id' was unexpected)")
    empty = api(cloud, "PATCH", path, admin_token, json={"credential": {}})
    assert _error(empty, 400).endswith("'blob' is a required property")
    new_blob = json.dumps({"access": "renamed", "secret": "two"})
    renamed = api(cloud, "PATCH", path, admin_token, json={"credential": {"blob": new_blob}})
    assert renamed.status_code == 200 and renamed.json()["credential"]["id"] == credential_id
    missing_blob = {"credential": {"type": "ec2", "user_id": "x"}}
    assert _error(api(cloud, "POST", "/v3/credentials", admin_token, json=missing_blob), 400).endswith(
        "'blob' is a required property")
    api(cloud, "DELETE", path, admin_token)


# Roles, assignments, catalog ----------------------------------------------------------------------


def test_bootstrap_roles_are_immutable(cloud: RunningCloud, admin_token: str) -> None:
    member_role = api(cloud, "GET", "/v3/roles?name=member", admin_token).json()["roles"][0]
    assert member_role["options"] == {"immutable": True}
    refused = api(cloud, "DELETE", f"/v3/roles/{member_role['id']}", admin_token)
    assert _error(refused, 403) == (f"Unable to delete immutable role resource: `{member_role['id']}. "
                                    'Set resource option "immutable" to false first.')
    created = api(cloud, "POST", "/v3/roles", admin_token, json={"role": {"name": unique("role")}})
    role = created.json()["role"]
    assert role["options"] == {}
    updated = api(cloud, "PATCH", f"/v3/roles/{role['id']}", admin_token, json={"role": {"description": "d"}})
    assert updated.status_code == 200 and updated.json()["role"]["description"] == "d"
    assert api(cloud, "DELETE", f"/v3/roles/{role['id']}", admin_token).status_code == 204


def test_role_inferences(cloud: RunningCloud, admin_token: str) -> None:
    rules = api(cloud, "GET", "/v3/role_inferences", admin_token).json()["role_inferences"]
    pairs = {(rule["prior_role"]["name"], implied["name"]) for rule in rules for implied in rule["implies"]}
    assert pairs == {("admin", "member"), ("member", "reader")}


def test_effective_assignments_link_the_implying_role(cloud: RunningCloud, admin_token: str,
                                                      make_account: Callable[[str], Account]) -> None:
    account = make_account("admin")
    query = f"/v3/role_assignments?user.id={account.user_id}&effective&include_names"
    entries = api(cloud, "GET", query, admin_token).json()["role_assignments"]
    by_role = {entry["role"]["name"]: entry["links"] for entry in entries}
    roles = {entry["role"]["name"]: entry["role"]["id"] for entry in entries}
    grant = f"{cloud.auth_url}/projects/{account.project_id}/users/{account.user_id}/roles"
    assert by_role["admin"] == {"assignment": f"{grant}/{roles['admin']}"}
    assert by_role["reader"] == {
        "assignment": f"{grant}/{roles['member']}",
        "prior_role": f"{cloud.auth_url}/prior_role/{roles['reader']}/implies/{roles['member']}"}


@pytest.mark.parametrize(("path", "action"), [
    ("/v3/services", "list_services"), ("/v3/endpoints", "list_endpoints"),
    ("/v3/role_assignments", "list_role_assignments"), ("/v3/role_assignments?user.id={user}",
                                                        "list_role_assignments"),
    ("/v3/projects/{project}/users/{user}/roles", "list_grants"),
])
def test_member_may_not_list(cloud: RunningCloud, member: Account, path: str, action: str) -> None:
    url = path.format(user=member.user_id, project=member.project_id)
    refused = api(cloud, "GET", url, member.token(cloud))
    message = _error(refused, 403)
    assert message == f"You are not authorized to perform the requested action: identity:{action}."


def test_catalog_entities(cloud: RunningCloud, admin_token: str) -> None:
    region_id = unique("region")
    created = api(cloud, "POST", "/v3/regions", admin_token, json={"region": {"id": region_id}})
    assert created.status_code == 201
    duplicate = api(cloud, "POST", "/v3/regions", admin_token, json={"region": {"id": region_id}})
    message = _error(duplicate, 409)
    assert message == f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.."
    patched = api(cloud, "PATCH", f"/v3/regions/{region_id}", admin_token,
                  json={"region": {"description": "y"}})
    assert patched.json()["region"]["description"] == "y"
    api(cloud, "DELETE", f"/v3/regions/{region_id}", admin_token)
    services = api(cloud, "GET", "/v3/services?type=identity", admin_token).json()["services"]
    assert "description" not in services[0]
    endpoint = {"endpoint": {"service_id": "nope", "interface": "public", "url": "http://x/"}}
    assert _error(api(cloud, "POST", "/v3/endpoints", admin_token, json=endpoint), 400) == (
        f"Expecting to find endpoint service_id in service table. {CLIENT_IN_ERROR}")
    endpoint["endpoint"].update(service_id=services[0]["id"], interface="bad")
    assert _error(api(cloud, "POST", "/v3/endpoints", admin_token, json=endpoint), 400) == (
        "Invalid input for field/attribute interface. Value: bad. 'bad' is not one of "
        "['admin', 'internal', 'public']")


def test_projects_and_domains(cloud: RunningCloud, admin_token: str) -> None:
    flagged = api(cloud, "POST", "/v3/projects", admin_token,
                  json={"project": {"name": unique("proj"), "enabled": "no"}})
    assert flagged.status_code == 201 and flagged.json()["project"]["enabled"] is False
    bad_flag = api(cloud, "POST", "/v3/projects", admin_token,
                   json={"project": {"name": "x", "enabled": "x"}})
    assert "'x' is not one of [True, 'True'," in _error(bad_flag, 400)
    no_domain = api(cloud, "POST", "/v3/projects", admin_token,
                    json={"project": {"name": "x", "domain_id": "d"}})
    assert _error(no_domain, 400) == "Could not find domain: d."
    name = unique("dom")
    created = api(cloud, "POST", "/v3/domains", admin_token, json={"domain": {"name": name}})
    assert created.json()["domain"]["description"] is None
    duplicate = api(cloud, "POST", "/v3/domains", admin_token, json={"domain": {"name": name}})
    assert _error(duplicate, 409) == (
        "Conflict occurred attempting to store project - it is not permitted to have two projects acting as "
        f"domains with the same name: {name}.")


# Application credentials --------------------------------------------------------------------------


def test_application_credential_answers(cloud: RunningCloud, member: Account) -> None:
    token, base = member.token(cloud), f"/v3/users/{member.user_id}/application_credentials"
    flags = {}
    for unrestricted in (None, False, True):
        request: dict[str, Any] = {"name": unique("ac")}
        if unrestricted is not None:
            request["unrestricted"] = unrestricted
        created = api(cloud, "POST", base, token, json={"application_credential": request}).json()
        flags[unrestricted] = created["application_credential"]
    shown = {key: value["unrestricted"] for key, value in flags.items()}
    assert shown == {None: None, False: False, True: True}
    assert "access_rules" not in flags[None]
    assert flags[None]["roles"][0]["options"] == {"immutable": True}
    name = flags[None]["name"]
    duplicate = api(cloud, "POST", base, token, json={"application_credential": {"name": name}})
    assert _error(duplicate, 409).endswith(f"Duplicate entry found with name {name}.")
    ghost = uuid.uuid4().hex
    assert _error(api(cloud, "GET", f"{base}/{ghost}", token), 404) == (
        f"Could not find Application Credential: {ghost}.")
    too_much = {"application_credential": {"name": unique("ac"), "roles": [{"name": "admin"}]}}
    assert _error(api(cloud, "POST", base, token, json=too_much), 400) == (
        "Invalid application credential: Cannot create an application credential with unassigned role")
    restricted = flags[False]
    auth = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
        "id": restricted["id"], "secret": restricted["secret"]}}}}
    delegated = api(cloud, "POST", TOKENS, json=auth).headers["X-Subject-Token"]
    refused = api(cloud, "POST", base, delegated, json={"application_credential": {"name": unique("ac")}})
    assert _error(refused, 403) == (
        "You are not authorized to perform the requested action: Using method 'application_credential' "
        "is not allowed for managing additional application credentials..")


def test_password_change_answers(cloud: RunningCloud, member: Account,
                                 make_account: Callable[[str], Account]) -> None:
    token, path = member.token(cloud), f"/v3/users/{member.user_id}/password"
    missing = api(cloud, "POST", path, token, json={"user": {"password": "x"}})
    assert _error(missing, 400) == "'original_password' is a required property"
    other = make_account("member")
    change = {"user": {"original_password": member.password, "password": "x"}}
    assert _error(api(cloud, "POST", f"/v3/users/{other.user_id}/password", token, json=change), 401) == (
        "The request you have made requires authentication.")


def test_scoping_views_of_a_disabled_project(cloud: RunningCloud, admin_token: str, member: Account) -> None:
    token = member.token(cloud)
    rescope = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": "unscoped"}}
    unscoped = api(cloud, "POST", TOKENS, json=rescope)
    unscoped_token = unscoped.headers["X-Subject-Token"]
    assert _error(api(cloud, "GET", "/v3/auth/catalog", unscoped_token), 403) == (
        "You are not authorized to perform the requested action.")
    disable = {"project": {"enabled": False}}
    api(cloud, "PATCH", f"/v3/projects/{member.project_id}", admin_token, json=disable)
    gone = api(cloud, "GET", TOKENS, admin_token, headers={"X-Subject-Token": token})
    assert _error(gone, 404) == f"Unable to validate token because project {member.project_id} is disabled"
    listed = api(cloud, "GET", "/v3/auth/projects", unscoped_token).json()["projects"]
    assert [(project["id"], project["enabled"]) for project in listed] == [(member.project_id, False)]


def test_domain_scoped_catalog_keeps_project_only_services(cloud: RunningCloud, keystone: Any,
                                                           member: Account) -> None:
    keystone.roles.grant(keystone.roles.find(name="reader"), user=member.user_id, domain="default")
    body = _password(member.name, member.password, domain={"id": "default"})
    body["auth"]["scope"] = {"domain": {"id": "default"}}
    catalog = api(cloud, "POST", TOKENS, json=body).json()["token"]["catalog"]
    assert {entry["type"]: len(entry["endpoints"]) for entry in catalog} == {"identity": 3, "object-store": 0}


def test_s3tokens_body_errors(cloud: RunningCloud, admin_token: str) -> None:
    not_an_object = api(cloud, "POST", "/v3/s3tokens", admin_token, json=[1])
    assert _error(not_an_object, 400).startswith("Expecting to find valid JSON in request body.")
    assert _error(api(cloud, "POST", "/v3/s3tokens", admin_token, json={}), 400) == (
        "request must include a request body")
    for credentials in ("x", {}):
        refused = api(cloud, "POST", "/v3/s3tokens", admin_token, json={"credentials": credentials})
        assert _error(refused, 401) == "The request you have made requires authentication."
