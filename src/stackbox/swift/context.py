"""One Swift request as the handlers see it: the parsed path, the caller and the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackbox.http import Request

if TYPE_CHECKING:
    from stackbox.auth import AuthContext
    from stackbox.identity.service import IdentityService
    from stackbox.storage.contract import ObjectStore


@dataclass(slots=True)
class Call:
    request: Request
    storage: ObjectStore
    identity: IdentityService
    #: `AUTH_<project_id>`; `container` and `obj` are "" when the path stops above them.
    account: str
    container: str
    obj: str
    auth: AuthContext | None = None
    #: The caller owns the account (Swift's `swift_owner`: an operator role on its project, or the
    #: reseller admin): it may manage it and see its owner-only metadata.
    owner: bool = False
    #: Authorised by a temporary URL signature rather than a token.
    temp_url: bool = False
    #: The container a TempURL signed with a container key is confined to (None: an account key).
    temp_url_container: str | None = None

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def headers(self) -> dict[str, str]:
        return self.request.headers

    @property
    def query(self) -> dict[str, str]:
        return self.request.query

    @property
    def object_path(self) -> str:
        return f"/v1/{self.account}/{self.container}/{self.obj}"


class BadPath(ValueError):
    """A path Swift's proxy finds no controller for (412 "Bad URL")."""


def split_path(path: str) -> tuple[str, str, str] | None:
    """`/v1/<account>[/<container>[/<object>]]` -> (account, container, object); None for a path
    with an empty segment before the last (Swift answers it 404); BadPath for `/v1` or `/v1/`."""
    if path in ("/v1", "/v1/"):
        raise BadPath(path)
    if not path.startswith("/v1/"):
        return None
    parts = path[len("/v1/"):].split("/", 2)
    account = parts[0]
    container = parts[1] if len(parts) > 1 else ""
    obj = parts[2] if len(parts) > 2 else ""
    if not account or (obj and not container):
        return None
    return account, container, obj
