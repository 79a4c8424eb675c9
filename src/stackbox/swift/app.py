"""The Swift v1 front end: routing, authentication, and Swift's error responses.

Every response carries `X-Trans-Id` / `X-Openstack-Request-Id`. Engine exceptions map to Swift's
statuses here, in one place; anything unexpected is logged and answered with a bare 500.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from stackbox.http import (
    ASGIApp,
    BodyTooLarge,
    ClientDisconnected,
    Receive,
    Request,
    RequestTimeout,
    Response,
    Scope,
    Send,
)
from stackbox.identity import access_rules
from stackbox.storage import types as st
from stackbox.swift import account, bulk, container, copying, cors, formpost, obj, quotas, staticweb, tempurl
from stackbox.swift.acl import authorize, unauthorized
from stackbox.swift.context import BadPath, Call, split_path
from stackbox.swift.errors import HTML, SwiftError, html_error
from stackbox.swift.info import INFO_BODY

if TYPE_CHECKING:
    from stackbox.identity.service import IdentityService
    from stackbox.storage.contract import ObjectStore

log = logging.getLogger("stackbox.swift")

Handler = Callable[[Call], Awaitable[Response]]

ACCOUNT_ROUTES: dict[str, Handler] = {
    "GET": account.get_account, "HEAD": account.head_account, "POST": account.post_account,
    "PUT": account.put_account, "DELETE": account.delete_account,
}
CONTAINER_ROUTES: dict[str, Handler] = {
    "GET": container.get_container, "HEAD": container.head_container, "PUT": container.put_container,
    "POST": container.post_container, "DELETE": container.delete_container,
}
OBJECT_ROUTES: dict[str, Handler] = {
    "GET": obj.get_object, "HEAD": obj.get_object, "PUT": obj.put_object, "POST": obj.post_object,
    "DELETE": obj.delete_object, "COPY": copying.copy_method,
}

#: Engine exceptions -> the status Swift answers them with (its standard body).
STORAGE_ERRORS: tuple[tuple[type[st.StorageError], int], ...] = (
    (st.NoSuchContainer, 404), (st.NoSuchObject, 404), (st.ContainerNotEmpty, 409),
    (st.PreconditionFailed, 412), (st.BadDigest, 422), (st.ChecksumMismatch, 422),
    (st.EntityTooLarge, 413), (st.InvalidRange, 416), (st.IncompleteBody, 499), (st.KeyTooLong, 400),
    (st.InsufficientStorage, 507),
    # S3 Object Lock holds the version (or keeps the container versioned): Swift has no such lock,
    # and a conflict with the resource's state is the nearest of its answers.
    (st.ObjectLocked, 409), (st.LockedVersioning, 409),
)


def new_trans_id() -> str:
    return f"tx{os.urandom(11).hex()[:21]}-{int(time.time()):010x}"


def create_swift_app(storage: ObjectStore, identity: IdentityService) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        trans_id = new_trans_id()
        request = Request(scope, receive)
        try:
            response = await _route(request, storage, identity)
        except Exception as exc:  # every failure becomes one of Swift's answers, never a traceback
            error = _as_swift_error(exc, request, trans_id)
            response = _error_response(error, request.method)
        if "origin" in request.headers:
            await _add_cors_headers(request, response, storage, identity)
        response.headers += (("X-Trans-Id", trans_id), ("X-Openstack-Request-Id", trans_id))
        await response(send)

    return app


async def _add_cors_headers(request: Request, response: Response, storage: ObjectStore,
                            identity: IdentityService) -> None:
    try:
        await cors.add_response_headers(request, response, storage, identity.settings)
    except Exception:  # the answer itself must still go out
        log.exception("CORS headers for %s %s failed", request.method, request.path)


def _as_swift_error(exc: Exception, request: Request, trans_id: str) -> SwiftError:
    if isinstance(exc, SwiftError):
        return exc
    if isinstance(exc, st.InvalidSegment | st.EncryptedSegment):
        return SwiftError(400, f"Errors:\n{exc}")
    encryption_error = _encryption_error(exc)
    if encryption_error is not None:
        return encryption_error
    if isinstance(exc, st.StorageError):
        return _storage_error(exc)
    if isinstance(exc, RequestTimeout):
        return SwiftError(408)
    if isinstance(exc, ClientDisconnected):
        return SwiftError(499)
    if isinstance(exc, BodyTooLarge):
        return SwiftError(413)
    log.exception("unexpected error in %s %s (%s)", request.method, request.path, trans_id)
    return SwiftError(500)


def _encryption_error(exc: Exception) -> SwiftError | None:
    """Swift has no SSE-C: an object encrypted with a customer's key is S3's to read, with that key.
    An object whose server-side key is disabled cannot be read either (S3: KMS.DisabledException)."""
    if isinstance(exc, st.CustomerKeyRequired):
        return SwiftError(403, "This object is encrypted with a customer-provided key (S3 SSE-C); read it "
                          "through S3 with that key.")
    if isinstance(exc, st.KeyDisabled | st.KeyNotFound):
        return SwiftError(403, f"This object's encryption key cannot be used: {exc}.")
    return None


def _error_response(error: SwiftError, method: str) -> Response:
    """Swift's error answer; a HEAD's carries no body."""
    response = error.response()
    if method == "HEAD":
        response.body = b""
    return response


def _storage_error(error: st.StorageError) -> SwiftError:
    if isinstance(error, st.QuotaExceeded):
        return html_error(413, quotas.EXCEEDED)
    for kind, status in STORAGE_ERRORS:
        if isinstance(error, kind):
            if isinstance(error, st.KeyTooLong):
                return SwiftError(400, "Object name too long")
            return SwiftError(status)
    return SwiftError(400, str(error))


async def _route(request: Request, storage: ObjectStore, identity: IdentityService) -> Response:
    path = request.path
    if path == "/healthcheck":
        return Response(b"OK", 200, content_type="text/plain")
    if path == "/info":
        if request.method == "OPTIONS":  # Swift's info controller: no CORS evaluation
            return Response(b"", 200, [("Allow", "HEAD, GET, OPTIONS")], HTML)
        if request.method not in ("GET", "HEAD"):
            raise SwiftError(405, headers=[("Allow", "GET, OPTIONS, HEAD")])
        return Response(INFO_BODY, 200, content_type="application/json; charset=UTF-8")
    if not request.path_is_clean:
        raise SwiftError(412, "Invalid UTF8 or contains NULL")
    try:
        parts = split_path(path)
    except BadPath:
        raise html_error(412, "Bad URL") from None
    if parts is None:
        raise SwiftError(404)
    call = Call(request, storage, identity, *parts)
    if call.method == "OPTIONS":
        return await cors.options(call)
    if formpost.is_form_post(call):
        return await formpost.form_post(call)
    if await staticweb.applies(call):
        response = await staticweb.serve(call, _authenticate, obj.get_object)
    else:
        await _authenticate(call)
        response = await _handler(call)(call)
    if call.temp_url:  # also for staticweb's answers: the URL's holder sees no private metadata
        inline = isinstance(response, staticweb.Page)
        response.headers = tempurl.response_headers(call, response.status, response.headers, inline=inline)
    return response


async def _authenticate(call: Call) -> None:
    if tempurl.is_temp_url(call):
        await tempurl.authorize_temp_url(call)
        return
    token = call.headers.get("x-auth-token") or call.headers.get("x-storage-token")
    if token:
        # As with Keystone's middleware deferring the decision to keystoneauth, a token that does not
        # validate leaves an anonymous caller: it reaches what an ACL makes public, no more.
        call.auth = await call.identity.validate_token_async(token)
        if call.auth is not None and not access_rules.permits(call.auth, "object-store", call.method,
                                                              call.request.path):
            raise unauthorized(call)
    service_token = call.headers.get("x-service-token")
    if service_token is not None and not await _is_service_token(call, service_token):
        call.auth = None  # an invalid service token invalidates the whole identity, as in keystonemiddleware
    await authorize(call)


async def _is_service_token(call: Call, token: str) -> bool:
    """A valid token of a user holding the `service` role (keystonemiddleware's service_token_roles)."""
    service = await call.identity.validate_token_async(token)
    return service is not None and service.is_service


def _handler(call: Call) -> Handler:
    method = call.method
    if call.obj:
        routes, fallback = OBJECT_ROUTES, obj.not_allowed
    elif call.container:
        routes, fallback = CONTAINER_ROUTES, container.not_allowed
    else:
        routes, fallback = ACCOUNT_ROUTES, account.not_allowed
    if method == "POST" and "bulk-delete" in call.query and not call.obj:
        return bulk.bulk_delete
    if method == "PUT" and "extract-archive" in call.query:
        return bulk.extract_archive
    return routes.get(method, fallback)
