"""A small regex route table and the per-request `Call` every identity handler receives."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from stackbox.auth import AuthContext
from stackbox.http import Request, Response
from stackbox.identity.errors import Unauthorized
from stackbox.identity.service import IdentityService, ValidToken


@dataclass
class Call:
    request: Request
    service: IdentityService
    args: dict[str, str]
    body: Any = None
    caller: ValidToken | None = None

    @property
    def context(self) -> AuthContext:
        return self.context_token.context

    @property
    def context_token(self) -> ValidToken:
        if self.caller is None:
            raise Unauthorized()
        return self.caller

    @property
    def base_url(self) -> str:
        """The `/v3` URL links are built from."""
        return self.service.settings.identity_url

    def link(self, path: str) -> dict[str, str]:
        return {"self": f"{self.base_url}{path}"}

    def collection_links(self) -> dict[str, str | None]:
        query = f"?{self.request.query_string}" if self.request.query_string else ""
        return {"next": None, "self": f"{self.base_url}{self.request.path[len('/v3'):]}{query}",
                "previous": None}


#: A handler that does slow work (password hashing) off the event loop is a coroutine function.
Handler = Callable[[Call], Response | Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    #: Whether the caller must present a valid X-Auth-Token.
    authenticated: bool


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, template: str, *, authenticated: bool = True
              ) -> Callable[[Handler], Handler]:
        """Register a handler for `template`, where `{name}` matches one path segment."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        pattern = re.compile(f"^{regex}$")

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, pattern, handler, authenticated))
            return handler

        return register

    def include(self, other: Router) -> None:
        self.routes.extend(other.routes)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """The route for the request, its path arguments, and the methods the path allows."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), []
            allowed.append(route.method)
        return None, {}, allowed
