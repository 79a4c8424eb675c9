"""The identity port: a Keystone v3-compatible ASGI app."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from stackbox.auth import AuthContext
from stackbox.http import (
    ASGIApp,
    BodyTooLarge,
    ClientDisconnected,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    text_response,
)
from stackbox.identity import (
    access_rules,
    api_assignments,
    api_auth,
    api_catalog,
    api_resources,
    app_creds,
    ec2,
)
from stackbox.identity.errors import BadRequest, IdentityError, Unauthorized, method_not_allowed
from stackbox.identity.router import Call, Handler, Router
from stackbox.identity.schema import parse_json
from stackbox.identity.service import IdentityService

if TYPE_CHECKING:
    from stackbox.app import Cloud

log = logging.getLogger("stackbox.identity")

MAX_BODY = 1 << 20


def build_router() -> Router:
    router = Router()
    for module in (api_auth, api_resources, api_assignments, api_catalog, app_creds, ec2):
        router.include(module.router)
    return router


def create_identity_app(cloud: Cloud) -> ASGIApp:
    service = cloud.identity
    router = build_router()
    identity_url = cloud.settings.identity_url

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await _dispatch(request, router, service)
        except IdentityError as error:
            response = error.response(identity_url)
        except ClientDisconnected:
            return
        except Exception:
            log.exception("identity request failed: %s %s", request.method, request.path)
            response = IdentityError("An unexpected error prevented the server from fulfilling your request."
                                     ).response(identity_url)
        response.headers += [("vary", "X-Auth-Token"), ("x-openstack-request-id", f"req-{uuid.uuid4()}")]
        await response(send)

    return app


async def _dispatch(request: Request, router: Router, service: IdentityService) -> Response:
    path = request.path.rstrip("/") or "/"
    method = "GET" if request.method == "HEAD" else request.method
    route, args, allowed = router.match(method, path)
    if route is None:
        if allowed:
            return method_not_allowed(_with_implicit(allowed))
        return _not_found_page()
    call = Call(request, service, args)
    if route.authenticated:
        call.caller = await service.validate_async(request.headers.get("x-auth-token", ""))
        if call.caller is None or not _rules_allow(request, call.caller.context):
            raise Unauthorized()
    if request.method in ("POST", "PUT", "PATCH"):
        try:
            call.body = parse_json(await request.body(MAX_BODY))
        except BodyTooLarge:
            raise BadRequest("Request body is too large.") from None
    response = await _run(route.handler, call, service)
    if request.method == "HEAD":
        return _headers_only(response)
    return response


async def _run(handler: Handler, call: Call, service: IdentityService) -> Response:
    """The handler, with its store work off the event loop when the database is a server."""
    if inspect.iscoroutinefunction(handler):
        return await service.run_async(cast(Callable[[Call], Awaitable[Response]], handler), call)
    return await service.run(cast(Callable[[Call], Response], handler), call)


def _rules_allow(request: Request, caller: AuthContext) -> bool:
    """Access rules bind Keystone's own API too, as its auth middleware does; validating a token is free."""
    if request.method == "GET" and request.path.endswith("/v3/auth/tokens"):
        return True
    return access_rules.permits(caller, "identity", request.method, request.path)


def _with_implicit(allowed: list[str]) -> list[str]:
    """Flask's Allow list: resources with a GET also answer HEAD and OPTIONS (s3tokens has neither)."""
    methods = list(dict.fromkeys(allowed))
    if "GET" in methods:
        methods += ["HEAD", "OPTIONS"]
    return methods


NOT_FOUND_PAGE = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL "
    "was not found on the server. If you entered the URL manually please check your spelling and try again."
    "</p>\n"
)


def _not_found_page() -> Response:
    """An unknown path gets the web framework's HTML page in Keystone, not a JSON error."""
    return text_response(NOT_FOUND_PAGE, 404, content_type="text/html; charset=utf-8")


def _headers_only(response: Response) -> Response:
    headers = [*response.headers, ("content-length", str(len(response.body)))]
    return Response(b"", response.status, headers)
