"""Application credentials: a user's delegated secret for one project, restricted unless `unrestricted`."""

from __future__ import annotations

import secrets
from datetime import datetime

import orjson

from stackbox.http import Response, json_response
from stackbox.identity import access_rules, policy
from stackbox.identity.access_rules import access_rule_json
from stackbox.identity.errors import BadRequest, Conflict, Forbidden, NotFound
from stackbox.identity.passwords import hash_password_async
from stackbox.identity.render import Json, app_cred_json
from stackbox.identity.router import Call, Router
from stackbox.identity.schema import Body, boolean, entity, nonempty_string, string
from stackbox.identity.store import UNRESTRICTED_CODES, Row, new_id
from stackbox.sql import IntegrityError

router = Router()

BASE = "/v3/users/{user_id}/application_credentials"
RULES = "/v3/users/{user_id}/access_rules"


def _app_cred_body(call: Call, row: Row) -> Json:
    """The credential as Keystone shows it; `access_rules` only when it has some."""
    body = app_cred_json(call, row, call.service.store.roles(orjson.loads(row["role_ids"])))
    rules = call.service.store.access_rules_of(row["id"])
    if rules:
        body["access_rules"] = [access_rule_json(rule) for rule in rules]
    return body


def _expiry(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise BadRequest.invalid("expires_at", value, "Invalid timestamp") from None


def _requested_roles(call: Call, request: Body) -> list[str]:
    """Ids of the roles asked for (default: all the token's roles); each must be one the token holds."""
    held = {role["name"]: role["id"] for role in call.context_token.body.get("roles", [])}
    wanted = request.get("roles")
    if not wanted:
        return sorted(held.values())
    if not isinstance(wanted, list):
        raise BadRequest.invalid("roles", wanted, f"{wanted!r} is not of type 'array'")
    chosen: list[str] = []
    for ref in wanted:
        ident = ref.get("id") if isinstance(ref, dict) else None
        ident = ident or held.get(ref.get("name", "") if isinstance(ref, dict) else "")
        if not isinstance(ident, str) or ident not in held.values():
            raise BadRequest("Invalid application credential: "
                             "Cannot create an application credential with unassigned role")
        chosen.append(ident)
    return chosen


@router.route("POST", BASE)
async def create_app_cred(call: Call) -> Response:
    user_id = call.args["user_id"]
    context = call.context
    if context.app_cred_restricted:
        # Keystone's message, doubled period included.
        raise Forbidden.action("Using method 'application_credential' is not allowed for managing "
                               "additional application credentials.")
    if context.user_id != user_id or context.project_id is None:
        raise Forbidden.action("identity:create_application_credential")
    request = entity(call.body, "application_credential")
    name = nonempty_string(request, "name", "application_credential")
    secret = string(request, "secret", max_length=4096) or secrets.token_urlsafe(64)
    requested = request.get("access_rules")
    rules = access_rules.parse_requested(requested) if requested is not None else []
    row = {"id": new_id(), "name": name, "user_id": user_id, "project_id": context.project_id,
           "description": string(request, "description"), "secret_hash": await hash_password_async(secret),
           "expires_at": _expiry(string(request, "expires_at")),
           "unrestricted": UNRESTRICTED_CODES[boolean(request, "unrestricted")],
           "role_ids": orjson.dumps(_requested_roles(call, request)).decode()}
    try:
        call.service.store.insert_app_cred(row, rules)
    except IntegrityError:
        detail = f"Duplicate entry found with name {name}"
        raise Conflict.duplicate("application_credential", detail) from None
    except LookupError as unknown:
        raise NotFound.of("Access Rule", unknown.args[0]) from None
    stored = _require(call, str(row["id"]), user_id)
    body = {**_app_cred_body(call, stored), "secret": secret}
    return json_response({"application_credential": body}, 201)


def _require(call: Call, ident: str, user_id: str) -> Row:
    row = call.service.store.get("application_credential", ident)
    if row is None or row["user_id"] != user_id:
        raise NotFound.of("Application Credential", ident)
    return row


@router.route("GET", BASE)
def list_app_creds(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_admin_or_owner(call.context, user_id, "identity:list_application_credentials")
    rows = call.service.store.select("application_credential",
                                     {"user_id": user_id, "name": call.request.query.get("name")})
    items = [_app_cred_body(call, row) for row in rows]
    return json_response({"application_credentials": items, "links": call.collection_links()})


@router.route("GET", BASE + "/{app_cred_id}")
def show_app_cred(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_admin_or_owner(call.context, user_id, "identity:get_application_credential")
    row = _require(call, call.args["app_cred_id"], user_id)
    return json_response({"application_credential": _app_cred_body(call, row)})


@router.route("DELETE", BASE + "/{app_cred_id}")
def delete_app_cred(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_admin_or_owner(call.context, user_id, "identity:delete_application_credential")
    if call.context.app_cred_restricted:
        raise Forbidden.action("identity:delete_application_credential")
    row = _require(call, call.args["app_cred_id"], user_id)
    call.service.store.delete("application_credential", row["id"])
    return Response(b"", 204)


# Access rules -------------------------------------------------------------------------------------


def _rule_body(call: Call, row: Row) -> Json:
    return {**access_rule_json(row), "links": call.link(f"/users/{row['user_id']}/access_rules/{row['id']}")}


def _require_rule(call: Call, action: str) -> Row:
    user_id = call.args["user_id"]
    policy.require_admin_or_owner(call.context, user_id, action)
    row = call.service.store.get("access_rule", call.args["access_rule_id"])
    if row is None or row["user_id"] != user_id:
        raise NotFound.of("Access Rule", call.args["access_rule_id"])
    return row


@router.route("GET", RULES)
def list_access_rules(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_admin_or_owner(call.context, user_id, "identity:list_access_rules")
    query = call.request.query
    filters = {"user_id": user_id, **{name: query.get(name) for name in ("service", "method", "path")}}
    rows = call.service.store.select("access_rule", filters)
    return json_response({"access_rules": [_rule_body(call, row) for row in rows],
                         "links": call.collection_links()})


@router.route("GET", RULES + "/{access_rule_id}")
def show_access_rule(call: Call) -> Response:
    row = _require_rule(call, "identity:get_access_rule")
    return json_response({"access_rule": _rule_body(call, row)})


@router.route("DELETE", RULES + "/{access_rule_id}")
def delete_access_rule(call: Call) -> Response:
    row = _require_rule(call, "identity:delete_access_rule")
    if call.service.store.access_rule_in_use(row["id"]):
        raise Forbidden("May not delete access rule in use")
    call.service.store.delete("access_rule", row["id"])
    return Response(b"", 204)
