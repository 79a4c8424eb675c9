"""Regions, services and endpoints: the service catalog every token carries."""

from __future__ import annotations

from collections.abc import Callable

from stackbox.http import Response, json_response
from stackbox.identity import policy
from stackbox.identity.errors import BadRequest, Conflict, NotFound
from stackbox.identity.render import endpoint_json, region_json, service_json
from stackbox.identity.router import Call, Router
from stackbox.identity.schema import Body, boolean, entity, nonempty_string, string
from stackbox.identity.store import Row, new_id
from stackbox.sql import IntegrityError

router = Router()

INTERFACES = ("admin", "internal", "public")


def _require(call: Call, table: str, ident: str) -> Row:
    row = call.service.store.get(table, ident)
    if row is None:
        raise NotFound.of(table, ident)
    return row


def _listing(call: Call, key: str, table: str, filters: Body, render: Callable[[Call, Row], Body]
             ) -> Response:
    rows = call.service.store.select(table, filters)
    items = [render(call, row) for row in rows]
    return json_response({key: items, "links": call.collection_links()})


# Regions ------------------------------------------------------------------------------------------


@router.route("GET", "/v3/regions")
def list_regions(call: Call) -> Response:
    filters = {"parent_region_id": call.request.query.get("parent_region_id")}
    return _listing(call, "regions", "region", filters, region_json)


@router.route("POST", "/v3/regions")
def create_region(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_region")
    region = entity(call.body, "region")
    ident = string(region, "id") or new_id()
    parent = string(region, "parent_region_id")
    if parent is not None:
        _require(call, "region", parent)
    try:
        call.service.store.insert("region", {"id": ident, "description": string(region, "description") or "",
                                             "parent_region_id": parent})
    except IntegrityError:
        # Keystone's message ends in two periods.
        raise Conflict.duplicate("region", f"Duplicate ID, {ident}.") from None
    return json_response({"region": region_json(call, _require(call, "region", ident))}, 201)


@router.route("PATCH", "/v3/regions/{region_id}")
def update_region(call: Call) -> Response:
    policy.require_admin(call.context, "identity:update_region")
    ident = _require(call, "region", call.args["region_id"])["id"]
    changes = entity(call.body, "region")
    values: Body = {}
    if "description" in changes:
        values["description"] = string(changes, "description") or ""
    if "parent_region_id" in changes:
        parent = string(changes, "parent_region_id")
        if parent is not None:
            _require(call, "region", parent)
        values["parent_region_id"] = parent
    call.service.store.update("region", ident, values)
    return json_response({"region": region_json(call, _require(call, "region", ident))})


@router.route("GET", "/v3/regions/{region_id}")
def show_region(call: Call) -> Response:
    return json_response({"region": region_json(call, _require(call, "region", call.args["region_id"]))})


@router.route("DELETE", "/v3/regions/{region_id}")
def delete_region(call: Call) -> Response:
    policy.require_admin(call.context, "identity:delete_region")
    ident = _require(call, "region", call.args["region_id"])["id"]
    try:
        call.service.store.delete("region", ident)
    except IntegrityError:
        raise Conflict.duplicate("region", "endpoints still use it") from None
    return Response(b"", 204)


# Services -----------------------------------------------------------------------------------------


def _service_values(service: Body) -> Body:
    values: Body = {}
    for name in ("type", "name", "description"):
        if name in service:
            values[name] = string(service, name) or ""
    enabled = boolean(service, "enabled")
    if enabled is not None:
        values["enabled"] = int(enabled)
    return values


@router.route("GET", "/v3/services")
def list_services(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_services")
    query = call.request.query
    return _listing(call, "services", "service", {"type": query.get("type"), "name": query.get("name")},
                    service_json)


@router.route("POST", "/v3/services")
def create_service(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_service")
    service = entity(call.body, "service")
    nonempty_string(service, "type", "service")
    values = {"id": new_id(), **_service_values(service)}
    call.service.store.insert("service", values)
    return json_response({"service": service_json(call, _require(call, "service", values["id"]))}, 201)


@router.route("GET", "/v3/services/{service_id}")
def show_service(call: Call) -> Response:
    policy.require_admin(call.context, "identity:get_service")
    return json_response({"service": service_json(call, _require(call, "service", call.args["service_id"]))})


@router.route("PATCH", "/v3/services/{service_id}")
def update_service(call: Call) -> Response:
    policy.require_admin(call.context, "identity:update_service")
    ident = _require(call, "service", call.args["service_id"])["id"]
    call.service.store.update("service", ident, _service_values(entity(call.body, "service")))
    return json_response({"service": service_json(call, _require(call, "service", ident))})


@router.route("DELETE", "/v3/services/{service_id}")
def delete_service(call: Call) -> Response:
    policy.require_admin(call.context, "identity:delete_service")
    call.service.store.delete("service", _require(call, "service", call.args["service_id"])["id"])
    return Response(b"", 204)


# Endpoints ----------------------------------------------------------------------------------------


def _endpoint_values(call: Call, endpoint: Body) -> Body:
    values: Body = {}
    if "service_id" in endpoint:
        service_id = nonempty_string(endpoint, "service_id", "endpoint")
        if call.service.store.get("service", service_id) is None:
            raise BadRequest.expecting("endpoint service_id", "service table")
        values["service_id"] = service_id
    if "interface" in endpoint:
        interface = string(endpoint, "interface")
        if interface not in INTERFACES:
            reason = f"{interface!r} is not one of {list(INTERFACES)}"
            raise BadRequest.invalid("interface", interface, reason)
        values["interface"] = interface
    region = string(endpoint, "region_id") or string(endpoint, "region")
    if region is not None:
        values["region_id"] = _require(call, "region", region)["id"]
    if "url" in endpoint:
        values["url"] = nonempty_string(endpoint, "url", "endpoint")
    enabled = boolean(endpoint, "enabled")
    if enabled is not None:
        values["enabled"] = int(enabled)
    return values


@router.route("GET", "/v3/endpoints")
def list_endpoints(call: Call) -> Response:
    policy.require_admin(call.context, "identity:list_endpoints")
    query = call.request.query
    filters = {"service_id": query.get("service_id"), "interface": query.get("interface"),
               "region_id": query.get("region_id")}
    return _listing(call, "endpoints", "endpoint", filters, endpoint_json)


@router.route("POST", "/v3/endpoints")
def create_endpoint(call: Call) -> Response:
    policy.require_admin(call.context, "identity:create_endpoint")
    endpoint = entity(call.body, "endpoint")
    for name in ("service_id", "interface", "url"):
        nonempty_string(endpoint, name, "endpoint")
    values = {"id": new_id(), **_endpoint_values(call, endpoint)}
    call.service.store.insert("endpoint", values)
    return json_response({"endpoint": endpoint_json(call, _require(call, "endpoint", values["id"]))}, 201)


@router.route("GET", "/v3/endpoints/{endpoint_id}")
def show_endpoint(call: Call) -> Response:
    policy.require_admin(call.context, "identity:get_endpoint")
    row = _require(call, "endpoint", call.args["endpoint_id"])
    return json_response({"endpoint": endpoint_json(call, row)})


@router.route("PATCH", "/v3/endpoints/{endpoint_id}")
def update_endpoint(call: Call) -> Response:
    policy.require_admin(call.context, "identity:update_endpoint")
    ident = _require(call, "endpoint", call.args["endpoint_id"])["id"]
    call.service.store.update("endpoint", ident, _endpoint_values(call, entity(call.body, "endpoint")))
    return json_response({"endpoint": endpoint_json(call, _require(call, "endpoint", ident))})


@router.route("DELETE", "/v3/endpoints/{endpoint_id}")
def delete_endpoint(call: Call) -> Response:
    policy.require_admin(call.context, "identity:delete_endpoint")
    call.service.store.delete("endpoint", _require(call, "endpoint", call.args["endpoint_id"])["id"])
    return Response(b"", 204)
