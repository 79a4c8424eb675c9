"""Swift's CORS, as Swift 2.38's proxy answers it: a container's `X-Container-Meta-Access-Control-
Allow-Origin` (space-separated origins, or `*`), `-Max-Age` and `-Expose-Headers`, plus the operator's
`cors_allow_origin`, `cors_expose_headers` and `strict_cors_mode` (STACKBOX_CORS_ALLOW_ORIGIN,
STACKBOX_CORS_EXPOSE_HEADERS, STACKBOX_STRICT_CORS_MODE).

OPTIONS is answered without authentication: a preflight is allowed when the origin is and the asked
method is one the path takes (401 otherwise); every other request from an `Origin` to a container or
an object gets `Access-Control-Allow-Origin` and `-Expose-Headers` when its origin is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stackbox.config import Settings
from stackbox.cors import CorsRule, requested_headers, with_vary
from stackbox.http import Request, Response
from stackbox.storage.types import NoSuchContainer
from stackbox.swift.container import ALLOWED_METHODS
from stackbox.swift.context import BadPath, Call, split_path
from stackbox.swift.errors import HTML, SwiftError

if TYPE_CHECKING:
    from stackbox.storage.contract import ObjectStore

ALLOW_ORIGIN_META = "meta:access-control-allow-origin"
MAX_AGE_META = "meta:access-control-max-age"
EXPOSE_HEADERS_META = "meta:access-control-expose-headers"
#: The simple response headers and Swift's own, exposed on every CORS answer.
EXPOSED_ALWAYS = ("cache-control", "content-language", "content-type", "expires", "last-modified", "pragma",
                  "etag", "x-timestamp", "x-trans-id", "x-openstack-request-id")
_METHODS = tuple(method.strip() for method in ALLOWED_METHODS.split(","))
_META_PREFIXES = ("x-container-meta-", "x-object-meta-")


def _listed(value: str | None, separator: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(separator) if item.strip())


def container_rule(meta: Mapping[str, str], settings: Settings) -> CorsRule:
    """The one rule a container's metadata (and the operator's settings) make."""
    origins = _listed(meta.get(ALLOW_ORIGIN_META), " ") + _listed(settings.cors_allow_origin, ",")
    exposed = _listed(meta.get(EXPOSE_HEADERS_META), " ")
    return CorsRule(origins=origins, methods=_METHODS, allowed_headers=("*",), expose_headers=exposed,
                    origin_wildcards=False)


def _allow_origin(meta: Mapping[str, str], origin: str) -> str:
    return "*" if (meta.get(ALLOW_ORIGIN_META) or "").strip() == "*" else origin


async def options(call: Call) -> Response:
    """OPTIONS on an account, container or object: the methods it takes, and a preflight's verdict."""
    allow = ALLOWED_METHODS + (", COPY" if call.obj else "")
    origin = call.headers.get("origin")
    if not origin or not call.container:
        return Response(b"", 200, [("Allow", allow)], HTML)
    try:
        meta: Mapping[str, str] | None = await call.storage.container_meta(call.account, call.container)
    except NoSuchContainer:
        meta = None
    method = call.headers.get("access-control-request-method", "")
    if meta is None or not container_rule(meta, call.identity.settings).allows(origin, method):
        keystone_uri = call.identity.settings.identity_url.removesuffix("/v3")
        raise SwiftError(401, headers=[("Allow", ALLOWED_METHODS),
                                       ("WWW-Authenticate", f'Keystone uri="{keystone_uri}"')])
    headers = [("Allow", allow), ("Access-Control-Allow-Origin", _allow_origin(meta, origin))]
    vary = [] if headers[1][1] == "*" else ["Origin"]
    if meta.get(MAX_AGE_META) is not None:
        headers.append(("Access-Control-Max-Age", meta[MAX_AGE_META]))
    headers.append(("Access-Control-Allow-Methods", allow))
    asked = requested_headers(call.headers.get("access-control-request-headers"))
    if asked:
        headers.append(("Access-Control-Allow-Headers", ", ".join(asked)))
        vary.append("Access-Control-Request-Headers")
    if vary:
        headers.append(("Vary", ", ".join(vary)))
    return Response(b"", 200, headers)


async def add_response_headers(request: Request, response: Response, storage: ObjectStore,
                               settings: Settings) -> None:
    """The CORS headers of an actual answer (errors included) to a request from an `Origin` to a
    container or an object, when the container's rule (or, with strict_cors_mode off, any) allows it."""
    origin = request.headers.get("origin")
    if not origin or request.method == "OPTIONS":
        return
    try:
        parts = split_path(request.path)
    except BadPath:
        return
    if parts is None or not parts[1] or _is_form_post(request):
        return
    try:
        meta: Mapping[str, str] = await storage.container_meta(parts[0], parts[1])
    except NoSuchContainer:
        meta = {}
    rule = container_rule(meta, settings)
    if settings.strict_cors_mode and not rule.allows_origin(origin):
        return
    if not any(name.lower() == "access-control-expose-headers" for name, _ in response.headers):
        response.headers.append(("Access-Control-Expose-Headers", _exposed(response, rule, settings)))
    allow_origin = _allow_origin(meta, origin)
    response.headers.append(("Access-Control-Allow-Origin", allow_origin))
    if allow_origin != "*":
        with_vary(response.headers, "Origin")


def _exposed(response: Response, rule: CorsRule, settings: Settings) -> str:
    names = dict.fromkeys(EXPOSED_ALWAYS)
    names.update(dict.fromkeys(_listed(settings.cors_expose_headers, ",")))
    names.update(dict.fromkeys(name.lower() for name, _ in response.headers
                               if name.lower().startswith(_META_PREFIXES)))
    names.update(dict.fromkeys(name.lower() for name in rule.expose_headers))
    return ", ".join(names)


def _is_form_post(request: Request) -> bool:
    """FormPost answers before Swift's proxy: its answers carry no CORS headers."""
    content_type = request.headers.get("content-type", "")
    return request.method == "POST" and content_type.startswith("multipart/form-data")
