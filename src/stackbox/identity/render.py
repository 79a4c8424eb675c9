"""Identity entities as Keystone renders them in JSON."""

from __future__ import annotations

from typing import Any

import orjson

from stackbox.identity.router import Call
from stackbox.identity.store import Row, unrestricted_flag
from stackbox.identity.tokens import iso_time

Json = dict[str, Any]


def domain_json(call: Call, row: Row) -> Json:
    # A domain created without a description shows null in Keystone (a project shows "").
    return {"id": row["id"], "name": row["name"], "description": row["description"] or None,
            "enabled": bool(row["enabled"]), "tags": [], "options": {},
            "links": call.link(f"/domains/{row['id']}")}


def project_json(call: Call, row: Row) -> Json:
    return {"id": row["id"], "name": row["name"], "domain_id": row["domain_id"],
            "description": row["description"], "enabled": bool(row["enabled"]), "parent_id": row["domain_id"],
            "is_domain": False, "tags": [], "options": {}, "links": call.link(f"/projects/{row['id']}")}


def user_json(call: Call, row: Row) -> Json:
    user: Json = {"id": row["id"], "name": row["name"], "domain_id": row["domain_id"],
                  "enabled": bool(row["enabled"]), "password_expires_at": None, "options": {},
                  "links": call.link(f"/users/{row['id']}")}
    for optional in ("default_project_id", "email", "description"):
        if row[optional] is not None:
            user[optional] = row[optional]
    return user


#: The roles bootstrap creates; Keystone marks them immutable so they cannot be deleted by accident.
IMMUTABLE_ROLES = frozenset({"admin", "member", "reader", "service"})


def is_immutable_role(row: Row) -> bool:
    return row["name"] in IMMUTABLE_ROLES


def role_ref(row: Row) -> Json:
    """A role as embedded in other entities (application credentials): no links."""
    options = {"immutable": True} if is_immutable_role(row) else {}
    return {"id": row["id"], "name": row["name"], "domain_id": None, "description": row["description"],
            "options": options}


def role_json(call: Call, row: Row) -> Json:
    return {**role_ref(row), "links": call.link(f"/roles/{row['id']}")}


def region_json(call: Call, row: Row) -> Json:
    return {"id": row["id"], "description": row["description"], "parent_region_id": row["parent_region_id"],
            "links": call.link(f"/regions/{row['id']}")}


def service_json(call: Call, row: Row) -> Json:
    service: Json = {"id": row["id"], "type": row["type"], "name": row["name"],
                     "enabled": bool(row["enabled"]), "links": call.link(f"/services/{row['id']}")}
    # Keystone keeps a service's description only when one was given.
    if row["description"]:
        service["description"] = row["description"]
    return service


def endpoint_json(call: Call, row: Row) -> Json:
    return {"id": row["id"], "service_id": row["service_id"], "interface": row["interface"],
            "region_id": row["region_id"], "region": row["region_id"], "url": row["url"],
            "enabled": bool(row["enabled"]), "links": call.link(f"/endpoints/{row['id']}")}


def app_cred_json(call: Call, row: Row, roles: list[Row]) -> Json:
    return {"id": row["id"], "name": row["name"], "description": row["description"],
            "user_id": row["user_id"], "project_id": row["project_id"], "system": None,
            "expires_at": _iso_or_none(row["expires_at"]),
            "unrestricted": unrestricted_flag(row),
            "roles": [role_ref(role) for role in roles],
            "links": call.link(f"/application_credentials/{row['id']}")}


def _iso_or_none(timestamp: float | None) -> str | None:
    return iso_time(timestamp) if timestamp is not None else None


def ec2_json(call: Call, row: Row, blob: Json) -> Json:
    """An OS-EC2 credential; `access_token_id` and `app_cred_id` complete the rows the CLI shows."""
    access = blob.get("access")
    return {"user_id": row["user_id"], "tenant_id": row["project_id"], "access": access,
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id"),
            "access_token_id": blob.get("access_token_id"), "app_cred_id": row["app_cred_id"],
            "links": call.link(f"/users/{row['user_id']}/credentials/OS-EC2/{access}")}


def credential_json(call: Call, row: Row, blob_text: str) -> Json:
    return {"id": row["id"], "user_id": row["user_id"], "project_id": row["project_id"], "type": row["type"],
            "blob": blob_text, "links": call.link(f"/credentials/{row['id']}")}


def dumps_blob(blob: Json) -> str:
    return orjson.dumps(blob).decode()
