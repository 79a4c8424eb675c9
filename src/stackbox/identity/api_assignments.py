"""Role assignments: granting, checking and revoking roles, and `GET /v3/role_assignments`."""

from __future__ import annotations

from typing import Any

from stackbox.http import Response, json_response
from stackbox.identity import policy
from stackbox.identity.errors import NotFound
from stackbox.identity.render import role_json
from stackbox.identity.router import Call, Router
from stackbox.identity.schema import query_bool
from stackbox.identity.store import Row

router = Router()

TARGETS = {"projects": "project", "domains": "domain"}
GRANT = "/v3/{targets}/{target_id}/users/{user_id}/roles"


def _grant_parts(call: Call) -> tuple[str, Row, Row]:
    """(target type, target row, user row) of a grant URL, each checked to exist."""
    kind = TARGETS.get(call.args["targets"])
    if kind is None:
        raise NotFound("The resource could not be found.")
    store = call.service.store
    target = store.get(kind, call.args["target_id"])
    if target is None:
        raise NotFound.of(kind, call.args["target_id"])
    user = store.get("user", call.args["user_id"])
    if user is None:
        raise NotFound.of("user", call.args["user_id"])
    return kind, target, user


def _role(call: Call) -> Row:
    role = call.service.store.get("role", call.args["role_id"])
    if role is None:
        raise NotFound.of("role", call.args["role_id"])
    return role


@router.route("GET", GRANT)
def list_grants(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_grants")
    _, target, user = _grant_parts(call)
    store = call.service.store
    roles = store.roles(store.direct_role_ids(user["id"], target["id"]))
    return json_response({"roles": [role_json(call, r) for r in roles], "links": call.collection_links()})


@router.route("PUT", GRANT + "/{role_id}")
def create_grant(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_grant")
    kind, target, user = _grant_parts(call)
    call.service.store.assign(user["id"], kind, target["id"], _role(call)["id"])
    return Response(b"", 204)


@router.route("GET", GRANT + "/{role_id}")
def check_grant(call: Call) -> Response:
    policy.require_admin(call.context, "identity:check_grant")
    _, target, user = _grant_parts(call)
    role = _role(call)
    if role["id"] not in call.service.store.direct_role_ids(user["id"], target["id"]):
        raise NotFound(_missing_grant(role, user, target))
    return Response(b"", 204)


@router.route("DELETE", GRANT + "/{role_id}")
def revoke_grant(call: Call) -> Response:
    policy.require_admin(call.context, "identity:revoke_grant")
    _, target, user = _grant_parts(call)
    role = _role(call)
    if not call.service.store.unassign(user["id"], target["id"], role["id"]):
        raise NotFound(_missing_grant(role, user, target))
    return Response(b"", 204)


def _missing_grant(role: Row, user: Row, target: Row) -> str:
    return (f"Could not find role assignment with role: {role['id']}, user or group: {user['id']}, "
            f"project, domain, or system: {target['id']}.")


@router.route("GET", "/v3/role_assignments")
def list_role_assignments(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_role_assignments")
    query = call.request.query
    user_id = query.get("user.id")
    target_id = query.get("scope.project.id") or query.get("scope.domain.id")
    role_filter = query.get("role.id")
    effective = "effective" in query and query_bool(query["effective"] or "true")
    names = "include_names" in query and query_bool(query["include_names"] or "true")
    rows = call.service.store.assignments(user_id, target_id, None)
    listing = _Listing(call, names)
    entries = [entry for row in rows for entry in listing.entries(row, effective)]
    if role_filter:
        entries = [entry for entry in entries if entry["role"]["id"] == role_filter]
    return json_response({"role_assignments": entries, "links": call.collection_links()})


class _Listing:
    """Builds role assignment entries, optionally with names, expanding implied roles when effective."""

    def __init__(self, call: Call, include_names: bool) -> None:
        self.call = call
        self.store = call.service.store
        self.include_names = include_names

    def entries(self, row: Row, effective: bool) -> list[dict[str, Any]]:
        """The assignment itself and, when effective, one entry per role it implies (transitively)."""
        found = [self._entry(row, row["role_id"], None)]
        if not effective:
            return found
        seen = {row["role_id"]}
        frontier = [row["role_id"]]
        while frontier:
            prior = frontier.pop(0)
            for implied in self.store.implied_role_ids(prior):
                if implied not in seen:
                    seen.add(implied)
                    frontier.append(implied)
                    found.append(self._entry(row, implied, prior))
        return found

    def _entry(self, row: Row, role_id: str, prior_id: str | None) -> dict[str, Any]:
        """An entry for `role_id`; an implied one links the role that implies it, as Keystone does."""
        kind, target_id, user_id = row["target_type"], row["target_id"], row["user_id"]
        base = self.call.base_url
        links = {"assignment": f"{base}/{kind}s/{target_id}/users/{user_id}/roles/{prior_id or role_id}"}
        if prior_id is not None:
            links["prior_role"] = f"{base}/prior_role/{role_id}/implies/{prior_id}"
        return {"role": self._ref("role", role_id), "user": self._ref("user", user_id),
                "scope": {kind: self._ref(kind, target_id)}, "links": links}

    def _ref(self, table: str, ident: str) -> dict[str, Any]:
        ref: dict[str, Any] = {"id": ident}
        if not self.include_names:
            return ref
        row = self.store.get(table, ident)
        if row is not None:
            ref["name"] = row["name"]
            if table in ("user", "project"):
                domain = self.store.get("domain", row["domain_id"])
                ref["domain"] = {"id": row["domain_id"], "name": domain["name"] if domain else ""}
        return ref
