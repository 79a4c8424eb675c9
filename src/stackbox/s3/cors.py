"""Bucket CORS: Get/Put/DeleteBucketCors, the anonymous OPTIONS preflight and the CORS headers of
actual responses, with the answers and errors AWS gives (matching itself is stackbox/cors.py)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

import orjson

from stackbox.cors import CorsRule, first_match, requested_headers
from stackbox.http import Request, Response
from stackbox.s3 import xml
from stackbox.s3.authorize import s3_owner
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.storage.types import NoSuchContainer

if TYPE_CHECKING:
    from stackbox.storage.contract import ObjectStore

#: Container metadata key holding a bucket's CORS rules (JSON).
CORS_META = "s3:cors"
MAX_RULES = 100
#: AWS caps a CORS configuration at 64 KB; every request from a browser is matched against it.
MAX_DOCUMENT_BYTES = 64 << 10
METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
VARY = ("Origin", "Access-Control-Request-Headers", "Access-Control-Request-Method")
_NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
                "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
                "are not whitelisted by the resource's CORS spec.")


async def get_bucket_cors(call: S3Call) -> Response:
    raw = (await call.storage.read_container_meta(call.account, call.bucket)).get(CORS_META)
    rules = _decoded(raw) if raw else ()
    if not rules:
        raise S3Error("NoSuchCORSConfiguration", BucketName=call.bucket)
    return xml.xml_response("CORSConfiguration", [_render(rule) for rule in rules])


async def put_bucket_cors(call: S3Call) -> Response:
    await call.storage.get_container(call.account, call.bucket)
    rules = parse_rules(xml.parse(await call.read_body(MAX_DOCUMENT_BYTES), "CORSConfiguration"))
    await call.storage.update_container_meta(call.account, call.bucket, {CORS_META: _encode(rules)})
    return Response(b"", 200)


async def delete_bucket_cors(call: S3Call) -> Response:
    await call.storage.update_container_meta(call.account, call.bucket, {}, remove=[CORS_META])
    return Response(b"", 204)


def parse_rules(root: Element) -> list[CorsRule]:
    nodes = root.findall("CORSRule")
    if not nodes or len(root) != len(nodes):
        raise S3Error("MalformedXML")
    if len(nodes) > MAX_RULES:
        raise S3Error("InvalidRequest", f"The number of CORS rules should not exceed allowed limit of "
                                        f"{MAX_RULES} rules.")
    return [_rule(node) for node in nodes]


def _rule(node: Element) -> CorsRule:
    methods = _texts(node, "AllowedMethod")
    origins = _texts(node, "AllowedOrigin")
    if not methods or not origins:
        raise S3Error("MalformedXML")
    for method in methods:
        if method not in METHODS:
            raise S3Error("InvalidRequest", "Found unsupported HTTP method in CORS config. "
                                            f"Unsupported method is {method}")
    headers = _texts(node, "AllowedHeader")
    for kind, values in (("AllowedOrigin", origins), ("AllowedHeader", headers)):
        for value in values:
            if value.count("*") > 1:
                raise S3Error("InvalidRequest", f'{kind} "{value}" can not have more than one wildcard.')
    return CorsRule(origins=tuple(origins), methods=tuple(methods), allowed_headers=tuple(headers),
                    expose_headers=tuple(_texts(node, "ExposeHeader")), max_age=_max_age(node),
                    rule_id=xml.child_text(node, "ID"))


def _texts(node: Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in node.findall(name)]


def _max_age(node: Element) -> int | None:
    text = xml.child_text(node, "MaxAgeSeconds")
    if text is None:
        return None
    text = text.strip()
    if not text.lstrip("-").isdigit() or len(text) > 10:
        raise S3Error("MalformedXML")
    return int(text)


def _render(rule: CorsRule) -> str:
    parts = [xml.element("ID", rule.rule_id)] if rule.rule_id is not None else []
    parts += [xml.element("AllowedHeader", name) for name in rule.allowed_headers]
    parts += [xml.element("AllowedMethod", method) for method in rule.methods]
    parts += [xml.element("AllowedOrigin", origin) for origin in rule.origins]
    parts += [xml.element("ExposeHeader", name) for name in rule.expose_headers]
    if rule.max_age is not None:
        parts.append(xml.element("MaxAgeSeconds", rule.max_age))
    return f"<CORSRule>{''.join(parts)}</CORSRule>"


def _encode(rules: list[CorsRule]) -> str:
    return orjson.dumps([[rule.origins, rule.methods, rule.allowed_headers, rule.expose_headers, rule.max_age,
                          rule.rule_id] for rule in rules]).decode()


@functools.lru_cache(maxsize=256)
def _decoded(raw: str) -> tuple[CorsRule, ...]:
    """Rules decoded once per worker (every request with an Origin header reads them)."""
    return tuple(CorsRule(tuple(origins), tuple(methods), tuple(allowed), tuple(exposed), max_age, rule_id)
                 for origins, methods, allowed, exposed, max_age, rule_id in orjson.loads(raw))


async def stored_rules(storage: ObjectStore, account: str, bucket: str) -> tuple[CorsRule, ...]:
    raw = (await storage.container_meta(account, bucket)).get(CORS_META)
    return _decoded(raw) if raw else ()


async def preflight(call: S3Call) -> Response:
    """OPTIONS: anonymous, answered from the bucket's rules alone (its owner's, in S3's one namespace)."""
    origin = call.headers.get("origin")
    if origin is None:
        raise S3Error("BadRequest", "Insufficient information. Origin request header needed.")
    method = call.headers.get("access-control-request-method")

    async def forbidden(message: str) -> S3Error:
        return S3Error("AccessForbidden", message, Method=method or "OPTIONS",
                       ResourceType="OBJECT" if call.key else "BUCKET")

    owner = await s3_owner(call.storage, call.bucket) if call.bucket else None
    try:
        rules = await stored_rules(call.storage, owner, call.bucket) if owner else None
    except NoSuchContainer:
        rules = None
    if rules is None:
        raise await forbidden("CORSResponse: Bucket not found")
    if not rules:
        raise await forbidden("CORSResponse: CORS is not enabled for this bucket.")
    if method is None:
        raise S3Error("BadRequest", "Invalid Access-Control-Request-Method: null")
    headers = requested_headers(call.headers.get("access-control-request-headers"))
    rule = first_match(rules, origin, method, headers)
    if rule is None:
        raise await forbidden(_NOT_ALLOWED)
    answer = _rule_headers(rule, origin)
    if headers:
        answer.insert(1, ("Access-Control-Allow-Headers", ", ".join(headers)))
    return Response(b"", 200, answer)


async def response_headers(storage: ObjectStore, request: Request, bucket: str,
                           account: str = "") -> list[tuple[str, str]]:
    """CORS headers for an actual response (success or error) to a request from `Origin`: those of
    the first rule allowing the origin and the request's method, none when no rule does. `account`
    holds the bucket when the request got as far as finding it (else the name's S3 owner is looked up)."""
    origin = request.headers.get("origin")
    if origin is None or not bucket:
        return []
    owner = account or await s3_owner(storage, bucket)
    try:
        rules = await stored_rules(storage, owner, bucket) if owner else ()
    except NoSuchContainer:
        return []
    rule = first_match(rules, origin, request.method)
    return _rule_headers(rule, origin) if rule is not None else []


def _rule_headers(rule: CorsRule, origin: str) -> list[tuple[str, str]]:
    headers = [("Access-Control-Allow-Origin", "*" if rule.any_origin else origin),
               ("Access-Control-Allow-Methods", ", ".join(rule.methods))]
    if rule.expose_headers:
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule.expose_headers)))
    if rule.max_age is not None:
        headers.append(("Access-Control-Max-Age", str(rule.max_age)))
    if not rule.any_origin:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    headers.append(("Vary", ", ".join(VARY)))
    return headers
