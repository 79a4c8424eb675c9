"""`POST /v3/auth/tokens`: checking a password, token or application credential and issuing a token."""

from __future__ import annotations

import time
from typing import Any

from stackbox.identity.errors import BadRequest, Forbidden, NotFound, Unauthorized
from stackbox.identity.lockout import check_password
from stackbox.identity.passwords import verify_password_async
from stackbox.identity.schema import Body
from stackbox.identity.service import IdentityService, ValidToken
from stackbox.identity.store import Row
from stackbox.identity.tokens import TokenPayload

METHODS = ("password", "token", "application_credential")


async def authenticate(service: IdentityService, body: Any) -> tuple[str, ValidToken]:
    """Check the credentials in an auth request and issue the token it asks for."""
    method, credentials, scope = _parse_request(body)
    payload = await _payload_for(service, method, credentials, scope)
    issued = service.issue(payload)
    if issued is None:
        raise Unauthorized()
    return issued


def _parse_request(body: Any) -> tuple[str, Body, Any]:
    """(method, its credentials, requested scope), refusing what Keystone's validation refuses."""
    auth = _object(body, "auth") if isinstance(body, dict) else None
    if auth is None:
        raise BadRequest.expecting("auth", "request body")
    identity = _object(auth, "identity")
    if identity is None:
        raise BadRequest("'identity' is a required property")
    methods = identity.get("methods")
    if methods is None:
        raise BadRequest("Invalid input for field 'identity': 'methods' is a required property")
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise BadRequest(f"Invalid input for field 'identity': {methods!r} is not of type 'array'")
    for name in methods:
        if name not in identity:
            raise BadRequest.expecting(name, "identity")
    method = next((m for m in METHODS if m in methods), None)
    if method is None:
        if methods:
            raise Unauthorized("Attempted to authenticate with an unsupported method.",
                               identity={"methods": list(METHODS)})
        raise Unauthorized()
    return method, _object(identity, method) or {}, auth.get("scope")


async def _payload_for(service: IdentityService, method: str, credentials: Body, scope: Any
                       ) -> TokenPayload:
    ttl = service.settings.token_ttl
    if method == "application_credential":
        app_cred = await _check_app_cred(service, credentials)
        return TokenPayload.issue(app_cred["user_id"], (method,), ttl, project_id=app_cred["project_id"],
                                  app_cred_id=app_cred["id"])
    parent = None
    methods: tuple[str, ...] = (method,)
    if method == "token":
        parent = _check_token(service, credentials)
        user = service.active_user(parent.payload.user_id)
        # A re-scoped token lists how its chain started: ["password", "token"].
        methods = tuple(dict.fromkeys((*parent.payload.methods, method)))
    else:
        user = await _check_password(service, credentials)
    if user is None:
        raise Unauthorized()
    project_id, domain_id = _requested_scope(service, user, scope)
    return TokenPayload.issue(user["id"], methods, ttl, project_id=project_id, domain_id=domain_id,
                              parent=parent.payload if parent else None)


async def _check_password(service: IdentityService, credentials: Body) -> Row | None:
    reference = _object(credentials, "user")
    if reference is None:
        # Keystone names no target here: "Expecting to find user in None."
        raise BadRequest.expecting("user", None)
    _check_reference(reference, "identity/password/user")
    password = reference.get("password")
    user = _find_user(service, reference)
    # Verify even when the user is unknown: the 401 and its timing must not tell the two apart.
    matches = await check_password(service, user, password if isinstance(password, str) else "")
    if user is None or not matches:
        raise Unauthorized()
    return service.active_user(user["id"])


def _check_token(service: IdentityService, credentials: Body) -> ValidToken:
    token = credentials.get("id")
    if not isinstance(token, str) or service.codec.decode(token) is None:
        raise NotFound("Could not recognize Fernet token")
    valid = service.validate(token)
    if valid is None:
        raise NotFound("Failed to validate token")
    if valid.payload.app_cred_id:
        raise Forbidden("You are not authorized to perform the requested action: "
                        "Application credentials cannot request a token by the token method.")
    return valid


async def _check_app_cred(service: IdentityService, credentials: Body) -> Row:
    app_cred = _find_app_cred(service, credentials)
    secret = credentials.get("secret")
    matches = await verify_password_async(secret if isinstance(secret, str) else "",
                                          app_cred["secret_hash"] if app_cred else None)
    if app_cred is None or not matches:
        raise Unauthorized()
    if app_cred["expires_at"] is not None and app_cred["expires_at"] <= time.time():
        raise Unauthorized()
    return app_cred


def _find_app_cred(service: IdentityService, credentials: Body) -> Row | None:
    if isinstance(credentials.get("id"), str):
        return service.store.get("application_credential", credentials["id"])
    user = _find_user(service, _object(credentials, "user") or {})
    name = credentials.get("name")
    if user is None or not isinstance(name, str):
        return None
    rows = service.store.select("application_credential", {"user_id": user["id"], "name": name})
    return rows[0] if rows else None


def _check_reference(reference: Body, where: str) -> None:
    """A user or project named by id, or by name within a domain named by id or name."""
    if reference.get("id") is not None:
        return
    if reference.get("name") is None:
        raise BadRequest(f"Invalid input for field {where}: id or name must be present.")
    domain = _object(reference, "domain")
    if domain is None:
        raise BadRequest.expecting("domain", where.rsplit("/", 1)[-1])
    if domain.get("id") is None and domain.get("name") is None:
        raise BadRequest(f"Invalid input for field {where}/domain: id or name must be present.")


def _find_user(service: IdentityService, reference: Body) -> Row | None:
    if isinstance(reference.get("id"), str):
        return service.store.get("user", reference["id"])
    domain = _find_domain(service, _object(reference, "domain") or {})
    name = reference.get("name")
    if domain is None or not isinstance(name, str):
        return None
    return service.store.user_by_name(name, domain["id"])


def _find_domain(service: IdentityService, reference: Body) -> Row | None:
    if isinstance(reference.get("id"), str):
        return service.store.get("domain", reference["id"])
    if isinstance(reference.get("name"), str):
        return service.store.domain_by_name(reference["name"])
    return None


def _requested_scope(service: IdentityService, user: Row, scope: Any) -> tuple[str | None, str | None]:
    """(project_id, domain_id) the token is to be scoped to; both None for an unscoped token."""
    if scope is None:
        default = user["default_project_id"]
        if default and service.scope_for(user, project_id=default) is not None:
            return default, None
        return None, None
    if scope == "unscoped":
        return None, None
    if not isinstance(scope, dict):
        raise BadRequest(f"{scope!r} is not of type 'object', 'string'")
    if "project" in scope:
        reference = _object(scope, "project") or {}
        _check_reference(reference, "scope/project")
        project = _find_project(service, reference)
        if project is None:
            raise Unauthorized()
        return project["id"], None
    if "domain" in scope:
        domain = _find_domain(service, _object(scope, "domain") or {})
        if domain is None:
            raise Unauthorized()
        return None, domain["id"]
    raise Unauthorized("Attempted to authenticate with an unsupported scope.")


def _find_project(service: IdentityService, reference: Body) -> Row | None:
    if isinstance(reference.get("id"), str):
        return service.store.get("project", reference["id"])
    domain = _find_domain(service, _object(reference, "domain") or {})
    name = reference.get("name")
    if domain is None or not isinstance(name, str):
        return None
    return service.store.project_by_name(name, domain["id"])


def _object(parent: Body, key: str) -> Body | None:
    value = parent.get(key)
    if value is not None and not isinstance(value, dict):
        raise BadRequest.invalid(key, value, f"{value!r} is not of type 'object'")
    return value
