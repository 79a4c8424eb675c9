"""Discovery, tokens, the caller's catalog/projects/domains, and the s3tokens/ec2tokens validators."""

from __future__ import annotations

from typing import Any

from stackbox.auth import Ec2Secret
from stackbox.http import Response, json_response
from stackbox.identity import policy, signatures
from stackbox.identity.authenticate import authenticate
from stackbox.identity.errors import MALFORMED_JSON, BadRequest, Forbidden, NotFound, Unauthorized
from stackbox.identity.render import domain_json, project_json
from stackbox.identity.router import Call, Router
from stackbox.identity.service import ValidToken, ec2_credential_id
from stackbox.identity.tokens import TokenPayload

router = Router()

MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def _version(call: Call) -> dict[str, Any]:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{call.base_url}/"}], "media-types": MEDIA_TYPES}


@router.route("GET", "/", authenticated=False)
def versions(call: Call) -> Response:
    return json_response({"versions": {"values": [_version(call)]}}, 300,
                         [("location", f"{call.base_url}/")])


@router.route("GET", "/v3", authenticated=False)
def version_v3(call: Call) -> Response:
    return json_response({"version": _version(call)})


@router.route("POST", "/v3/auth/tokens", authenticated=False)
async def issue_token(call: Call) -> Response:
    token, valid = await authenticate(call.service, call.body)
    body = call.service.token_body(valid, with_catalog="nocatalog" not in call.request.query)
    return json_response(body, 201, [("x-subject-token", token)])


def _subject(call: Call, action: str) -> tuple[str, ValidToken]:
    """The token named by X-Subject-Token, which the caller must own unless admin or service."""
    token = call.request.headers.get("x-subject-token", "")
    payload = call.service.codec.decode(token) if token else None
    context = call.context
    privileged = context.is_admin or context.is_service
    if token and payload is None:
        raise NotFound("Could not recognize Fernet token")
    # Without a subject token only admin and service callers get past the policy check (to a 404).
    if not privileged and (payload is None or payload.user_id != context.user_id):
        raise Forbidden.action(action)
    if payload is None:
        raise NotFound("Could not recognize Fernet token")
    valid = call.service.validate(token)
    if valid is None:
        raise NotFound(_invalid_reason(call, payload))
    return token, valid


def _invalid_reason(call: Call, payload: TokenPayload) -> str:
    project = call.service.store.get("project", payload.project_id) if payload.project_id else None
    if project is not None and not project["enabled"]:
        return f"Unable to validate token because project {project['id']} is disabled"
    return "Failed to validate token"


@router.route("GET", "/v3/auth/tokens")
def validate_token(call: Call) -> Response:
    token, valid = _subject(call, "identity:validate_token")
    body = call.service.token_body(valid, with_catalog="nocatalog" not in call.request.query)
    return json_response(body, 200, [("x-subject-token", token)])


@router.route("DELETE", "/v3/auth/tokens")
def revoke_token(call: Call) -> Response:
    _, valid = _subject(call, "identity:revoke_token")
    call.service.revoke(valid.payload)
    return Response(b"", 204)


@router.route("GET", "/v3/auth/catalog")
def auth_catalog(call: Call) -> Response:
    if call.context_token.payload.project_id is None:
        raise Forbidden("You are not authorized to perform the requested action.")
    return json_response({"catalog": call.service.catalog(call.context.project_id),
                          "links": {"self": call.collection_links()["self"]}})


@router.route("GET", "/v3/auth/projects")
def auth_projects(call: Call) -> Response:
    store = call.service.store
    owned = store.target_ids_of_user(call.context.user_id, "project")
    rows = [store.get("project", ident) for ident in owned]
    # Keystone lists disabled projects here too (a token cannot be scoped to them).
    projects = [project_json(call, row) for row in rows if row is not None]
    return json_response({"projects": projects, "links": call.collection_links()})


@router.route("GET", "/v3/auth/domains")
def auth_domains(call: Call) -> Response:
    store = call.service.store
    owned = store.target_ids_of_user(call.context.user_id, "domain")
    rows = [store.get("domain", ident) for ident in owned]
    domains = [domain_json(call, row) for row in rows if row is not None]
    return json_response({"domains": domains, "links": call.collection_links()})


# Signature validation for S3/EC2 gateways ---------------------------------------------------------


def _ec2_request(call: Call, action: str) -> tuple[dict[str, Any], Ec2Secret]:
    """The `credentials` of an s3tokens/ec2tokens body and the pair its access key names."""
    policy.require_admin_or_service(call.context, action)
    body = call.body
    if body is not None and not isinstance(body, dict):
        raise BadRequest(MALFORMED_JSON)
    if not body or "credentials" not in body:
        raise BadRequest("request must include a request body")
    credentials = body["credentials"]
    if not isinstance(credentials, dict) or not credentials:
        raise Unauthorized()
    access = credentials.get("access")
    if not isinstance(access, str) or not access:
        raise Unauthorized()
    pair = call.service.ec2_secret(access)
    if pair is None:
        if call.service.store.get("credential", ec2_credential_id(access)) is None:
            raise NotFound("EC2 access key not found.")
        raise Unauthorized()
    return credentials, pair


def _ec2_token(call: Call, pair: Ec2Secret) -> tuple[str, dict[str, Any]]:
    payload = TokenPayload.issue(pair.context.user_id, ("ec2credential",), call.service.settings.token_ttl,
                                 project_id=pair.context.project_id, app_cred_id=pair.context.app_cred_id)
    issued = call.service.issue(payload)
    if issued is None:
        raise Unauthorized()
    token, valid = issued
    return token, call.service.token_body(valid)


@router.route("POST", "/v3/s3tokens")
def s3tokens(call: Call) -> Response:
    credentials, pair = _ec2_request(call, "identity:s3tokens_validate")
    token, signature = credentials.get("token"), credentials.get("signature")
    if not isinstance(token, str) or not isinstance(signature, str):
        raise Unauthorized()
    if not signatures.check_s3token(pair.secret, token, signature):
        raise Unauthorized()
    return json_response(_ec2_token(call, pair)[1])


@router.route("POST", "/v3/ec2tokens")
def ec2tokens(call: Call) -> Response:
    credentials, pair = _ec2_request(call, "identity:ec2tokens_validate")
    if not signatures.check_ec2token(pair.secret, credentials):
        raise Unauthorized()
    token, body = _ec2_token(call, pair)
    return json_response(body, 200, [("x-subject-token", token)])
