"""Checking request bodies the way Keystone's JSON schemas do, with Keystone's 400 messages."""

from __future__ import annotations

from typing import Any

import orjson

from stackbox.identity.errors import MALFORMED_JSON, BadRequest

Body = dict[str, Any]


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(MALFORMED_JSON) from None


def entity(body: Any, key: str) -> Body:
    """The object under `key` of a request body like `{"project": {...}}`."""
    if not isinstance(body, dict):
        raise BadRequest("request must include a request body" if body is None
                         else f"{body!r} is not of type 'object'")
    if key not in body:
        raise BadRequest(f"'{key}' is a required property")
    value = body[key]
    if not isinstance(value, dict):
        raise BadRequest.invalid(key, value, f"{value!r} is not of type 'object'")
    return value


def require(obj: Body, name: str, where: str) -> None:
    if obj.get(name) is None:
        raise BadRequest.invalid(where, obj, f"'{name}' is a required property")


def string(obj: Body, name: str, *, required: str | None = None, max_length: int = 255) -> str | None:
    """An optional string attribute; `required` names the enclosing object when it must be present."""
    if required is not None:
        require(obj, name, required)
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest.invalid(name, value, f"{value!r} is not of type 'string'")
    if len(value) > max_length:
        raise BadRequest.invalid(name, value, f"{value!r} is too long")
    return value


def nonempty_string(obj: Body, name: str, where: str) -> str:
    value = string(obj, name, required=where)
    if not value:
        raise BadRequest.invalid(name, value, "'' should be non-empty")
    return value


def boolean(obj: Body, name: str) -> bool | None:
    value = obj.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise BadRequest.invalid(name, value, f"{value!r} is not of type 'boolean'")


_TRUE_WORDS = ("True", "TRUE", "true", "1", "y", "Y", "on", "ON", "yes")
_FALSE_WORDS = ("False", "FALSE", "false", "", "0", "n", "N", "off", "OFF", "no")
#: The order Keystone lists the accepted values in when it refuses one.
_ACCEPTED = [True, "True", "TRUE", "true", False, "False", "FALSE", "false", "", "1", "0", "y", "Y", "n", "N",
             "on", "ON", "off", "OFF", "yes", "no"]


def flexible_boolean(obj: Body, name: str) -> bool | None:
    """An `enabled` flag of a domain, project or user: Keystone also takes words like "yes" or "0"."""
    value = obj.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _TRUE_WORDS:
        return True
    if isinstance(value, str) and value in _FALSE_WORDS:
        return False
    raise BadRequest.invalid(name, value, f"{value!r} is not one of {_ACCEPTED}")


def query_bool(value: str) -> bool:
    """Keystone reads `?enabled=` as false only for 0/false/no/off (any case)."""
    return value.strip().lower() not in {"0", "false", "no", "off"}
