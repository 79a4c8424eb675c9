"""Application credential access rules: which (service, method, path) requests a credential's tokens may make.

Matching follows keystonemiddleware: the method must be equal, the service type must be the one
the request reached, and the path glob must match the whole request path, where `*` and `{name}`
match one path segment and `**` any number of them. Literal characters match only themselves.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote

from stackbox.auth import AuthContext
from stackbox.identity.errors import BadRequest
from stackbox.identity.store import Row

METHODS = ("POST", "GET", "HEAD", "PATCH", "PUT", "DELETE")
MAX_PATH = 225
#: Not a Keystone limit: every rule is matched on every request the credential's tokens make.
MAX_RULES = 100
_SERVICE_TYPE = re.compile(r"^[a-zA-Z0-9-]{1,64}$")
_GLOB_TOKEN = re.compile(r"(?P<segment>\{[^}]*\}|\*(?!\*))|(?P<any>\*\*)|(?P<literal>[^{*]+|\{)")
#: The characters webob leaves unquoted in `Request.path`, which keystonemiddleware matches against.
_PATH_SAFE = "/~!$&'()*+,;=:@"


class AccessRule(NamedTuple):
    service: str
    method: str
    path: str


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    parts = []
    for token in _GLOB_TOKEN.finditer(pattern):
        if token["segment"]:
            parts.append("[^/]+")
        elif token["any"]:
            parts.append(".*")
        else:
            parts.append(re.escape(token["literal"]))
    return re.compile("".join(parts))


def path_matches(path: str, pattern: str) -> bool:
    return _compiled(pattern).fullmatch(path) is not None


def permits(context: AuthContext, service: str, method: str, path: str) -> bool:
    """Whether a caller's access rules (if any) allow this request; `path` as decoded by the server."""
    if context.access_rules is None:
        return True
    # Match the path as webob shows it: a %2F inside a name stays one segment, as it reaches Swift.
    quoted = quote(path, safe=_PATH_SAFE)
    return any(rule_method == method and rule_service == service and path_matches(quoted, rule_path)
               for rule_service, rule_method, rule_path in context.access_rules)


def parse_requested(value: Any) -> list[dict[str, str]]:
    """The `access_rules` of an application credential request, checked as Keystone's schema does."""
    if not isinstance(value, list):
        raise _invalid("access_rules", f"{value!r} is not of type 'array'")
    if len(value) > MAX_RULES:
        raise _invalid("access_rules", f"is too long (at most {MAX_RULES} access rules)")
    return [_parse_rule(rule, f"access_rules/{index}") for index, rule in enumerate(value)]


def _parse_rule(rule: Any, where: str) -> dict[str, str]:
    if not isinstance(rule, dict):
        raise _invalid(where, f"{rule!r} is not of type 'object'")
    unexpected = sorted(set(rule) - {"id", "service", "method", "path"})
    if unexpected:
        listed = ", ".join(repr(name) for name in unexpected)
        raise _invalid(where, f"Additional properties are not allowed ({listed} were unexpected)")
    for name in ("id", "service"):
        if name in rule and not (isinstance(rule[name], str) and _SERVICE_TYPE.match(rule[name])):
            raise _invalid(f"{where}/{name}", f"{rule[name]!r} does not match '^[a-zA-Z0-9-]+$'")
    if "method" in rule and rule["method"] not in METHODS:
        raise _invalid(f"{where}/method", f"{rule['method']!r} does not match '^({'|'.join(METHODS)})$'")
    path = rule.get("path")
    if "path" in rule and not (isinstance(path, str) and path.startswith("/") and len(path) <= MAX_PATH):
        raise _invalid(f"{where}/path", f"{path!r} does not match '^\\/.*' or is longer than {MAX_PATH}")
    return dict(rule)


def access_rule_json(row: Row) -> dict[str, str]:
    return {"id": row["id"], "service": row["service"], "method": row["method"], "path": row["path"]}


def _invalid(where: str, message: str) -> BadRequest:
    return BadRequest(f"Invalid input for field '{where}': {message}")
