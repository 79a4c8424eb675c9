"""Keystone's error responses: `{"error": {"code", "message", "title"}}` with the matching status."""

from __future__ import annotations

from typing import Any, ClassVar

from stackbox.http import Response, json_response

AUTH_REQUIRED = "The request you have made requires authentication."
CLIENT_IN_ERROR = (
    "The server could not comply with the request since it is either malformed or otherwise incorrect. "
    "The client is assumed to be in error."
)
MALFORMED_JSON = f"Expecting to find valid JSON in request body. {CLIENT_IN_ERROR}"


class IdentityError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        #: Extra members of the error object (Keystone lists the auth methods it supports on a 401).
        self.details = details

    def headers(self, identity_url: str) -> list[tuple[str, str]]:
        return []

    def response(self, identity_url: str) -> Response:
        body = {"error": {"code": self.status, **self.details, "message": self.message, "title": self.title}}
        return json_response(body, self.status, self.headers(identity_url))


class BadRequest(IdentityError):
    status = 400
    title = "Bad Request"

    @classmethod
    def invalid(cls, attribute: str, value: Any, reason: str) -> BadRequest:
        # Keystone formats the offending value with str(), not repr(): `Value: bad.`, `Value: 12.`
        return cls(f"Invalid input for field/attribute {attribute}. Value: {value}. {reason}")

    @classmethod
    def expecting(cls, attribute: str, target: object) -> BadRequest:
        """Keystone's ValidationError: `Expecting to find user in password. ...`"""
        return cls(f"Expecting to find {attribute} in {target}. {CLIENT_IN_ERROR}")


class Unauthorized(IdentityError):
    status = 401
    title = "Unauthorized"

    def __init__(self, message: str = AUTH_REQUIRED, **details: Any) -> None:
        super().__init__(message, **details)

    def headers(self, identity_url: str) -> list[tuple[str, str]]:
        return [("www-authenticate", f'Keystone uri="{identity_url}"')]


class Forbidden(IdentityError):
    status = 403
    title = "Forbidden"

    @classmethod
    def action(cls, action: str) -> Forbidden:
        return cls(f"You are not authorized to perform the requested action: {action}.")


class NotFound(IdentityError):
    status = 404
    title = "Not Found"

    @classmethod
    def of(cls, kind: str, ident: object) -> NotFound:
        return cls(f"Could not find {kind}: {ident}.")


class Conflict(IdentityError):
    status = 409
    title = "Conflict"

    @classmethod
    def duplicate(cls, kind: str, detail: str) -> Conflict:
        return cls(f"Conflict occurred attempting to store {kind} - {detail}.")


class ServiceUnavailable(IdentityError):
    status = 503
    title = "Service Unavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self, identity_url: str) -> list[tuple[str, str]]:
        return [("retry-after", str(self.retry_after))]


def method_not_allowed(allowed: list[str]) -> Response:
    body = {"message": "The method is not allowed for the requested URL."}
    return json_response(body, 405, [("allow", ", ".join(allowed))])
