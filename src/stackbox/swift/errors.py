"""Swift's error responses: the status lines and HTML bodies its proxy (swob) sends."""

from __future__ import annotations

from collections.abc import Iterable

from stackbox.http import Response

HTML = "text/html; charset=UTF-8"
TEXT = "text/plain"

#: status -> (title, explanation), as swob words them.
REASONS: dict[int, tuple[str, str]] = {
    202: ("Accepted", "The request is accepted for processing."),
    400: ("Bad Request", "The server could not comply with the request since it is either malformed or "
                         "otherwise incorrect."),
    401: ("Unauthorized",
          "This server could not verify that you are authorized to access the document you requested."),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "The method is not allowed for this resource."),
    408: ("Request Timeout", "The server has waited too long for the request to be sent by the client."),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
    411: ("Length Required", "Length Required"),
    412: ("Precondition Failed", "A precondition for this request was not met."),
    413: ("Request Entity Too Large", "The body of your request was too large for this server."),
    416: ("Requested Range Not Satisfiable", "The Range requested is not available."),
    422: ("Unprocessable Entity", "Unable to process the contained instructions"),
    499: ("Client Disconnect", "The client was disconnected during request."),
    500: ("Internal Error",
          "The server has either erred or is incapable of performing the requested operation."),
    501: ("Not Implemented", "The requested method is not implemented by this server."),
    507: ("Insufficient Storage", "There was not enough space to save the resource."),
}


def html_body(status: int) -> bytes:
    title, explanation = REASONS[status]
    return f"<html><h1>{title}</h1><p>{explanation}</p></html>".encode()


class SwiftError(Exception):
    """Raised by handlers to answer with an error; `detail` replaces the standard HTML body.

    Swift labels most detailed errors `text/plain` but some (container names, ACLs, copy headers,
    listing limits) keep swob's default `text/html`; `content_type` says which.
    """

    def __init__(self, status: int, detail: str | None = None,
                 headers: Iterable[tuple[str, str]] = (), content_type: str = TEXT) -> None:
        super().__init__(detail or REASONS.get(status, ("Error", ""))[0])
        self.status = status
        self.detail = detail
        self.headers = list(headers)
        self.content_type = content_type

    def response(self) -> Response:
        if self.detail is None:
            return Response(html_body(self.status), self.status, self.headers, HTML)
        return Response(self.detail.encode(), self.status, self.headers, self.content_type)


def bad_request(detail: str) -> SwiftError:
    return SwiftError(400, detail)


def html_error(status: int, detail: str) -> SwiftError:
    """An error whose custom body Swift still labels `text/html`."""
    return SwiftError(status, detail, content_type=HTML)
