"""Application credentials: a user's delegated secret for one project, restricted unless `unrestricted`."""

from __future__ import annotations

import secrets
import sqlite3
from datetime import datetime

import orjson

from stackbox.http import Response, json_response
from stackbox.identity import policy
from stackbox.identity.errors import BadRequest, Conflict, Forbidden, NotFound
from stackbox.identity.passwords import hash_password
from stackbox.identity.render import app_cred_json
from stackbox.identity.router import Call, Router
from stackbox.identity.schema import Body, boolean, entity, nonempty_string, string
from stackbox.identity.store import UNRESTRICTED_CODES, Row, new_id

router = Router()

BASE = "/v3/users/{user_id}/application_credentials"


def _roles_of(call: Call, row: Row) -> list[Row]:
    return call.service.store.roles(orjson.loads(row["role_ids"]))


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
def create_app_cred(call: Call) -> Response:
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
    row = {"id": new_id(), "name": name, "user_id": user_id, "project_id": context.project_id,
           "description": string(request, "description"), "secret_hash": hash_password(secret),
           "expires_at": _expiry(string(request, "expires_at")),
           "unrestricted": UNRESTRICTED_CODES[boolean(request, "unrestricted")],
           "role_ids": orjson.dumps(_requested_roles(call, request)).decode()}
    try:
        call.service.store.insert("application_credential", row)
    except sqlite3.IntegrityError:
        detail = f"Duplicate entry found with name {name}"
        raise Conflict.duplicate("application_credential", detail) from None
    stored = _require(call, str(row["id"]), user_id)
    body = {**app_cred_json(call, stored, _roles_of(call, stored)), "secret": secret}
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
    items = [app_cred_json(call, row, _roles_of(call, row)) for row in rows]
    return json_response({"application_credentials": items, "links": call.collection_links()})


@router.route("GET", BASE + "/{app_cred_id}")
def show_app_cred(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_admin_or_owner(call.context, user_id, "identity:get_application_credential")
    row = _require(call, call.args["app_cred_id"], user_id)
    return json_response({"application_credential": app_cred_json(call, row, _roles_of(call, row))})


@router.route("DELETE", BASE + "/{app_cred_id}")
def delete_app_cred(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_admin_or_owner(call.context, user_id, "identity:delete_application_credential")
    if call.context.app_cred_restricted:
        raise Forbidden.action("identity:delete_application_credential")
    row = _require(call, call.args["app_cred_id"], user_id)
    call.service.store.delete("application_credential", row["id"])
    return Response(b"", 204)
