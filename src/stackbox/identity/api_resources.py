"""CRUD for domains, projects, users (with password changes), roles and role assignments."""

from __future__ import annotations

import time
from typing import Any

from stackbox.http import Response, json_response
from stackbox.identity import policy
from stackbox.identity.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from stackbox.identity.lockout import check_password
from stackbox.identity.passwords import hash_password_async
from stackbox.identity.render import domain_json, is_immutable_role, project_json, role_json, user_json
from stackbox.identity.router import Call, Router
from stackbox.identity.schema import Body, entity, flexible_boolean, nonempty_string, query_bool, string
from stackbox.identity.store import Row, new_id
from stackbox.sql import IntegrityError

router = Router()

DEFAULT_DOMAIN_ID = "default"
#: Keystone stores a domain as a project acting as a domain, and its conflict messages say so.
_STORED_AS = {"domain": "project"}


def _require(call: Call, table: str, ident: str) -> Row:
    row = call.service.store.get(table, ident)
    if row is None:
        raise NotFound.of(table, ident)
    return row


def _filters(call: Call, *names: str) -> dict[str, Any]:
    query = call.request.query
    found: dict[str, Any] = {name: query.get(name) for name in names}
    if "enabled" in query:
        found["enabled"] = int(query_bool(query["enabled"]))
    return found


def _insert(call: Call, table: str, values: Body, conflict: str) -> Row:
    try:
        call.service.store.insert(table, values)
    except IntegrityError:
        raise Conflict.duplicate(_STORED_AS.get(table, table), conflict) from None
    return _require(call, table, values["id"])


def _update(call: Call, table: str, ident: str, values: Body, conflict: str) -> Row:
    try:
        call.service.store.update(table, ident, values)
    except IntegrityError:
        raise Conflict.duplicate(_STORED_AS.get(table, table), conflict) from None
    return _require(call, table, ident)


def _common_changes(changes: Body) -> Body:
    values: Body = {}
    for name in ("name", "description"):
        if name in changes:
            values[name] = string(changes, name) or ""
    enabled = flexible_boolean(changes, "enabled")
    if enabled is not None:
        values["enabled"] = int(enabled)
    return values


def _revoke_if_disabled(call: Call, target_id: str, values: Body) -> None:
    """Tokens issued before a disable stay dead when the user, project or domain is enabled again."""
    if values.get("enabled") == 0:
        call.service.revoke_on_disable(target_id)


# Domains ------------------------------------------------------------------------------------------


@router.route("GET", "/v3/domains")
def list_domains(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_domains")
    rows = call.service.store.select("domain", _filters(call, "name"))
    return json_response({"domains": [domain_json(call, r) for r in rows], "links": call.collection_links()})


@router.route("POST", "/v3/domains")
def create_domain(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_domain")
    domain = entity(call.body, "domain")
    name = nonempty_string(domain, "name", "domain")
    values = {"id": new_id(), **_common_changes(domain), "name": name}
    conflict = f"it is not permitted to have two projects acting as domains with the same name: {name}"
    return json_response({"domain": domain_json(call, _insert(call, "domain", values, conflict))}, 201)


@router.route("GET", "/v3/domains/{domain_id}")
def show_domain(call: Call) -> Response:
    row = _require(call, "domain", call.args["domain_id"])
    if not call.context.is_admin and call.context.user_domain_id != row["id"]:
        raise Forbidden.action("identity:get_domain")
    return json_response({"domain": domain_json(call, row)})


@router.route("PATCH", "/v3/domains/{domain_id}")
def update_domain(call: Call) -> Response:
    policy.require_admin(call.context, "identity:update_domain")
    ident = _require(call, "domain", call.args["domain_id"])["id"]
    values = _common_changes(entity(call.body, "domain"))
    conflict = ("it is not permitted to have two projects acting as domains with the same name: "
                f"{values.get('name')}")
    row = _update(call, "domain", ident, values, conflict)
    _revoke_if_disabled(call, ident, values)
    return json_response({"domain": domain_json(call, row)})


@router.route("DELETE", "/v3/domains/{domain_id}")
def delete_domain(call: Call) -> Response:
    policy.require_admin(call.context, "identity:delete_domain")
    row = _require(call, "domain", call.args["domain_id"])
    if row["enabled"]:
        raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
    try:
        call.service.store.delete_target("domain", row["id"])
    except IntegrityError:
        raise Forbidden("Cannot delete a domain that still holds projects or users.") from None
    return Response(b"", 204)


# Projects -----------------------------------------------------------------------------------------


def _project_conflict(name: str, ident: str) -> str:
    return ("it is not permitted to have two projects with either the same name or same id in the same "
            f"domain: name is {name}, project id {ident}")


@router.route("GET", "/v3/projects")
def list_projects(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_projects")
    rows = call.service.store.select("project", _filters(call, "name", "domain_id"))
    projects = [project_json(call, row) for row in rows]
    return json_response({"projects": projects, "links": call.collection_links()})


@router.route("POST", "/v3/projects")
def create_project(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_project")
    project = entity(call.body, "project")
    name = nonempty_string(project, "name", "project")
    domain_id = string(project, "domain_id") or DEFAULT_DOMAIN_ID
    if call.service.store.get("domain", domain_id) is None:
        # Unlike for users, Keystone answers an unknown domain of a new project with a 400.
        raise BadRequest(f"Could not find domain: {domain_id}.")
    existing = call.service.store.project_by_name(name, domain_id)
    ident = existing["id"] if existing else new_id()
    values = {"id": ident, **_common_changes(project), "name": name, "domain_id": domain_id}
    row = _insert(call, "project", values, _project_conflict(name, ident))
    return json_response({"project": project_json(call, row)}, 201)


@router.route("GET", "/v3/projects/{project_id}")
def show_project(call: Call) -> Response:
    context = call.context
    if not context.is_admin and context.project_id != call.args["project_id"]:
        raise Forbidden.action("identity:get_project")
    return json_response({"project": project_json(call, _require(call, "project", call.args["project_id"]))})


@router.route("PATCH", "/v3/projects/{project_id}")
def update_project(call: Call) -> Response:
    policy.require_admin(call.context, "identity:update_project")
    current = _require(call, "project", call.args["project_id"])
    values = _common_changes(entity(call.body, "project"))
    conflict = _project_conflict(values.get("name", current["name"]), current["id"])
    row = _update(call, "project", current["id"], values, conflict)
    _revoke_if_disabled(call, current["id"], values)
    return json_response({"project": project_json(call, row)})


@router.route("DELETE", "/v3/projects/{project_id}")
def delete_project(call: Call) -> Response:
    policy.require_admin(call.context, "identity:delete_project")
    ident = _require(call, "project", call.args["project_id"])["id"]
    call.service.store.delete_target("project", ident)
    return Response(b"", 204)


@router.route("GET", "/v3/users/{user_id}/projects")
def list_user_projects(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_admin_or_owner(call.context, user_id, "identity:list_user_projects")
    store = call.service.store
    rows = [store.get("project", ident) for ident in store.target_ids_of_user(user_id, "project")]
    projects = [project_json(call, row) for row in rows if row is not None]
    return json_response({"projects": projects, "links": call.collection_links()})


# Users --------------------------------------------------------------------------------------------


async def _user_values(changes: Body) -> Body:
    values = _common_changes(changes)
    for name in ("email", "default_project_id"):
        if name in changes:
            values[name] = string(changes, name)
    if "password" in changes:
        password = string(changes, "password", max_length=4096)
        values["password_hash"] = await hash_password_async(password) if password else None
        values["password_changed_at"] = time.time()
    return values


@router.route("GET", "/v3/users")
def list_users(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_users")
    rows = call.service.store.select("user", _filters(call, "name", "domain_id"))
    return json_response({"users": [user_json(call, r) for r in rows], "links": call.collection_links()})


@router.route("POST", "/v3/users")
async def create_user(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_user")
    user = entity(call.body, "user")
    name = nonempty_string(user, "name", "user")
    domain_id = string(user, "domain_id") or DEFAULT_DOMAIN_ID
    _require(call, "domain", domain_id)
    values = {"id": new_id(), "password_changed_at": time.time(), **await _user_values(user), "name": name,
              "domain_id": domain_id}
    conflict = f"Duplicate entry found with name {name} at domain ID {domain_id}"
    return json_response({"user": user_json(call, _insert(call, "user", values, conflict))}, 201)


@router.route("GET", "/v3/users/{user_id}")
def show_user(call: Call) -> Response:
    policy.require_admin_or_owner(call.context, call.args["user_id"], "identity:get_user")
    return json_response({"user": user_json(call, _require(call, "user", call.args["user_id"]))})


@router.route("PATCH", "/v3/users/{user_id}")
async def update_user(call: Call) -> Response:
    policy.require_admin(call.context, "identity:update_user")
    current = _require(call, "user", call.args["user_id"])
    values = await _user_values(entity(call.body, "user"))
    conflict = f"Duplicate entry found with name {values.get('name')}"
    row = _update(call, "user", current["id"], values, conflict)
    if values.get("enabled") == 0:
        # Keystone deletes a disabled user's application credentials (and so the EC2 pairs made with them).
        call.service.store.delete_app_creds_of(current["id"])
    _revoke_if_disabled(call, current["id"], values)
    return json_response({"user": user_json(call, row)})


@router.route("DELETE", "/v3/users/{user_id}")
def delete_user(call: Call) -> Response:
    policy.require_admin(call.context, "identity:delete_user")
    ident = _require(call, "user", call.args["user_id"])["id"]
    call.service.store.delete("user", ident)
    return Response(b"", 204)


@router.route("POST", "/v3/users/{user_id}/password")
async def change_password(call: Call) -> Response:
    """A user changing their own password, proving they know the current one."""
    user_id = call.args["user_id"]
    if call.context.user_id != user_id:
        raise Unauthorized()
    changes = entity(call.body, "user")
    for name in ("original_password", "password"):
        if changes.get(name) is None:
            raise BadRequest(f"'{name}' is a required property")
    original = string(changes, "original_password", max_length=4096)
    password = nonempty_string(changes, "password", "user")
    user = _require(call, "user", user_id)
    if not await check_password(call.service, user, original or ""):
        raise Unauthorized()
    call.service.store.update("user", user_id, {"password_hash": await hash_password_async(password),
                                                "password_changed_at": time.time()})
    return Response(b"", 204)


# Roles --------------------------------------------------------------------------------------------


@router.route("GET", "/v3/roles")
def list_roles(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_roles")
    rows = call.service.store.select("role", _filters(call, "name"))
    return json_response({"roles": [role_json(call, r) for r in rows], "links": call.collection_links()})


@router.route("POST", "/v3/roles")
def create_role(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_role")
    role = entity(call.body, "role")
    name = nonempty_string(role, "name", "role")
    values = {"id": new_id(), "name": name, "description": string(role, "description")}
    row = _insert(call, "role", values, f"Duplicate entry found with name {name}")
    return json_response({"role": role_json(call, row)}, 201)


@router.route("GET", "/v3/roles/{role_id}")
def show_role(call: Call) -> Response:
    policy.require_admin(call.context, "identity:get_role")
    return json_response({"role": role_json(call, _require(call, "role", call.args["role_id"]))})


@router.route("PATCH", "/v3/roles/{role_id}")
def update_role(call: Call) -> Response:
    policy.require_admin(call.context, "identity:update_role")
    current = _require(call, "role", call.args["role_id"])
    changes = entity(call.body, "role")
    values: Body = {}
    _refuse_if_immutable(current, "update")
    if "name" in changes:
        values["name"] = nonempty_string(changes, "name", "role")
    if "description" in changes:
        values["description"] = string(changes, "description")
    conflict = f"Duplicate entry found with name {values.get('name')}"
    return json_response({"role": role_json(call, _update(call, "role", current["id"], values, conflict))})


@router.route("DELETE", "/v3/roles/{role_id}")
def delete_role(call: Call) -> Response:
    policy.require_admin(call.context, "identity:delete_role")
    row = _require(call, "role", call.args["role_id"])
    _refuse_if_immutable(row, "delete")
    call.service.store.delete("role", row["id"])
    return Response(b"", 204)


def _refuse_if_immutable(role: Row, verb: str) -> None:
    if is_immutable_role(role):
        # Keystone's message, stray backtick included.
        raise Forbidden(f"Unable to {verb} immutable role resource: `{role['id']}. "
                        'Set resource option "immutable" to false first.')


@router.route("GET", "/v3/role_inferences")
def list_role_inferences(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_role_inference_rules")
    store = call.service.store
    implied_by: dict[str, list[str]] = {}
    for prior_id, implied_id in store.role_inferences():
        implied_by.setdefault(prior_id, []).append(implied_id)
    rules = []
    for prior_id, implied_ids in implied_by.items():
        prior, implies = store.roles([prior_id]), store.roles(implied_ids)
        rules.append({"prior_role": _inference_ref(call, prior[0]),
                      "implies": [_inference_ref(call, role) for role in implies]})
    return json_response({"role_inferences": rules})


def _inference_ref(call: Call, role: Row) -> Body:
    return {"id": role["id"], "name": role["name"], "links": call.link(f"/roles/{role['id']}")}


@router.route("PUT", "/v3/roles/{prior_id}/implies/{implied_id}")
def create_implied_role(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_implied_role")
    prior = _require(call, "role", call.args["prior_id"])
    implied = _require(call, "role", call.args["implied_id"])
    call.service.store.imply(prior["id"], implied["id"])
    body = {"role_inference": {"prior_role": role_json(call, prior), "implies": role_json(call, implied)}}
    return json_response(body, 201)
