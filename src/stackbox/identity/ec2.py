"""EC2 credentials: the OS-EC2 extension on users and the generic `/v3/credentials` API (same records).

An EC2 credential's id is the sha256 of its access key; its blob (access, secret, trust_id) is
encrypted at rest and decrypted to verify signatures.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from stackbox.auth import AuthContext
from stackbox.http import Response, json_response
from stackbox.identity import policy
from stackbox.identity.errors import MALFORMED_JSON, BadRequest, Conflict, Forbidden, NotFound
from stackbox.identity.render import credential_json, ec2_json
from stackbox.identity.router import Call, Router
from stackbox.identity.schema import entity, string
from stackbox.identity.service import ec2_credential_id
from stackbox.identity.store import Row, new_id
from stackbox.sql import IntegrityError

router = Router()

OS_EC2 = "/v3/users/{user_id}/credentials/OS-EC2"


def _require_user(call: Call, user_id: str) -> Row:
    user = call.service.store.get("user", user_id)
    if user is None:
        raise NotFound.of("user", user_id)
    return user


def _require_project_access(call: Call, user_id: str, project_id: Any, action: str) -> None:
    """The project must exist, and a non-admin may only bind pairs to projects they hold a role on."""
    project = call.service.store.get("project", project_id) if isinstance(project_id, str) else None
    if project is None:
        raise NotFound.of("project", project_id)
    if not call.context.is_admin and not call.service.effective_roles(user_id, project_id):
        raise Forbidden.action(action)
    if call.context.app_cred_id and project_id != call.context.project_id:
        # An application credential delegates its roles on its own project, not on the user's others.
        raise Forbidden.action(action)


def _refuse_access_rules(context: AuthContext) -> None:
    """S3 cannot hold a request to an application credential's access rules, so such a one makes no pair."""
    if context.access_rules is not None:
        raise Forbidden.action("Application credentials with access rules cannot create EC2 credentials")


def _store_credential(call: Call, row: dict[str, Any], blob_text: str) -> None:
    values = {**row, "encrypted_blob": call.service.secrets.seal(blob_text), "created_at": time.time()}
    try:
        call.service.store.insert("credential", values)
    except IntegrityError:
        raise Conflict.duplicate("credential", f"Duplicate entry found with ID {row['id']}") from None


# OS-EC2 -------------------------------------------------------------------------------------------


@router.route("POST", OS_EC2)
def create_ec2(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_credential_access(call.context, user_id, "identity:ec2_create_credential", write=True)
    _refuse_access_rules(call.context)
    _require_user(call, user_id)
    if call.body is not None and not isinstance(call.body, dict):
        raise BadRequest(MALFORMED_JSON)
    project_id = call.body.get("tenant_id") if call.body else None
    _require_project_access(call, user_id, project_id, "identity:ec2_create_credential")
    blob: dict[str, Any] = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": None}
    app_cred_id = call.context.app_cred_id
    if app_cred_id:
        blob["app_cred_id"] = app_cred_id
    row = {"id": ec2_credential_id(blob["access"]), "type": "ec2", "user_id": user_id,
           "project_id": project_id, "app_cred_id": app_cred_id}
    _store_credential(call, row, json.dumps(blob))
    return json_response({"credential": ec2_json(call, _stored(call, str(row["id"])), blob)}, 201)


def _stored(call: Call, credential_id: str) -> Row:
    row = call.service.store.get("credential", credential_id)
    assert row is not None
    return row


def _user_ec2(call: Call, action: str, *, write: bool) -> Row:
    """The EC2 credential named by the path's access key, if the caller may see (or change) it.

    Like Keystone, access is decided by who owns the credential; the user id in the path is not
    compared with it (so it can never reveal another user's pair).
    """
    credential_id = ec2_credential_id(call.args["access"])
    row = call.service.store.get("credential", credential_id)
    if row is None or row["type"] != "ec2":
        policy.require_credential_access(call.context, call.args["user_id"], action, write=write)
        raise NotFound.of("credential", credential_id)
    policy.require_credential_access(call.context, row["user_id"], action, write=write)
    return row


@router.route("GET", OS_EC2)
def list_ec2(call: Call) -> Response:
    user_id = call.args["user_id"]
    policy.require_credential_access(call.context, user_id, "identity:ec2_list_credentials", write=False)
    _require_user(call, user_id)
    rows = call.service.store.select("credential", {"user_id": user_id, "type": "ec2"})
    credentials = [ec2_json(call, row, call.service.decrypt_blob(row)) for row in rows]
    return json_response({"credentials": credentials, "links": call.collection_links()})


@router.route("GET", OS_EC2 + "/{access}")
def show_ec2(call: Call) -> Response:
    row = _user_ec2(call, "identity:ec2_get_credential", write=False)
    return json_response({"credential": ec2_json(call, row, call.service.decrypt_blob(row))})


@router.route("DELETE", OS_EC2 + "/{access}")
def delete_ec2(call: Call) -> Response:
    row = _user_ec2(call, "identity:ec2_delete_credential", write=True)
    call.service.store.delete("credential", row["id"])
    return Response(b"", 204)


# Generic credentials ------------------------------------------------------------------------------


def _check_generic(context: AuthContext, user_id: str, action: str, *, write: bool) -> None:
    if context.app_cred_restricted:
        raise Forbidden.action(policy.DELEGATED)
    policy.require_admin_or_owner(context, user_id, action)
    if write and not context.is_admin and not context.can_write:
        raise Forbidden.action(action)


def _generic(call: Call, action: str, *, write: bool) -> Row:
    credential_id = call.args["credential_id"]
    row = call.service.store.get("credential", credential_id)
    if row is None:
        if call.context.app_cred_restricted:
            raise Forbidden.action(policy.DELEGATED)
        raise NotFound.of("credential", credential_id)
    _check_generic(call.context, row["user_id"], action, write=write)
    return row


@router.route("GET", "/v3/credentials")
def list_credentials(call: Call) -> Response:
    context = call.context
    if context.app_cred_restricted:
        raise Forbidden.action(policy.DELEGATED)
    query = call.request.query
    filters = {"user_id": query.get("user_id"), "type": query.get("type")}
    rows = call.service.store.select("credential", filters)
    if not context.is_admin:
        rows = [row for row in rows if row["user_id"] == context.user_id]
    credentials = [credential_json(call, row, call.service.blob_text(row)) for row in rows]
    return json_response({"credentials": credentials, "links": call.collection_links()})


def _ec2_access(blob_text: str) -> str:
    try:
        blob = json.loads(blob_text)
    except ValueError:
        blob = None
    access = blob.get("access") if isinstance(blob, dict) else None
    if not isinstance(access, str) or not access:
        raise BadRequest("Invalid blob in credential")
    return access


@router.route("POST", "/v3/credentials")
def create_credential(call: Call) -> Response:
    credential = entity(call.body, "credential")
    blob_text = string(credential, "blob", required="credential", max_length=65535)
    kind = string(credential, "type", required="credential")
    user_id = string(credential, "user_id", required="credential")
    project_id = string(credential, "project_id", required="credential" if kind == "ec2" else None)
    assert kind is not None and user_id is not None and blob_text is not None
    _check_generic(call.context, user_id, "identity:create_credential", write=True)
    if kind == "ec2":
        _refuse_access_rules(call.context)
    _require_user(call, user_id)
    credential_id = new_id()
    if kind == "ec2":
        _require_project_access(call, user_id, project_id, "identity:create_credential")
        credential_id = ec2_credential_id(_ec2_access(blob_text))
    elif project_id is not None and call.service.store.get("project", project_id) is None:
        raise NotFound.of("project", project_id)
    row = {"id": credential_id, "type": kind, "user_id": user_id, "project_id": project_id,
           "app_cred_id": call.context.app_cred_id if kind == "ec2" else None}
    _store_credential(call, row, blob_text)
    return json_response({"credential": credential_json(call, _stored(call, credential_id), blob_text)}, 201)


@router.route("GET", "/v3/credentials/{credential_id}")
def show_credential(call: Call) -> Response:
    row = _generic(call, "identity:get_credential", write=False)
    return json_response({"credential": credential_json(call, row, call.service.blob_text(row))})


@router.route("PATCH", "/v3/credentials/{credential_id}")
def update_credential(call: Call) -> Response:
    row = _generic(call, "identity:update_credential", write=True)
    changes = entity(call.body, "credential")
    unexpected = sorted(set(changes) - {"blob"})
    if unexpected:
        listed = ", ".join(repr(name) for name in unexpected)
        verb = "was" if len(unexpected) == 1 else "were"
        raise BadRequest.invalid("credential", changes,
                                 f"Additional properties are not allowed ({listed} {verb} unexpected)")
    blob_text = string(changes, "blob", required="credential", max_length=65535) or ""
    if row["type"] == "ec2":
        # Keystone keeps the id (sha256 of the original access key) even if the blob names another key.
        _ec2_access(blob_text)
    sealed = call.service.secrets.seal(blob_text)
    call.service.store.update("credential", row["id"], {"encrypted_blob": sealed})
    updated = _stored(call, row["id"])
    return json_response({"credential": credential_json(call, updated, call.service.blob_text(updated))})


@router.route("DELETE", "/v3/credentials/{credential_id}")
def delete_credential(call: Call) -> Response:
    row = _generic(call, "identity:delete_credential", write=True)
    call.service.store.delete("credential", row["id"])
    return Response(b"", 204)
