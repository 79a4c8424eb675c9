"""Building `stackbox.http.Request`s from what botocore signs, for the signature unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stackbox.auth import AuthContext, Ec2Secret
from stackbox.http import Message, Request
from stackbox.s3.signature import AuthResult, authenticate

ACCESS = "AKIDSTACKBOXTEST"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
CREDENTIALS = Credentials(ACCESS, SECRET)
CONTEXT = AuthContext(user_id="u1", user_name="alice", user_domain_id="default", project_id="p1",
                      project_name="demo", project_domain_id="default", roles=frozenset({"member", "reader"}))
EC2 = Ec2Secret(ACCESS, SECRET, CONTEXT)


def lookup(access: str) -> Ec2Secret | None:
    return EC2 if access == ACCESS else None


def make_request(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes = b"",
                 piece_size: int = 65536) -> Request:
    """An ASGI request as uvicorn would build it; the body arrives in `piece_size` reads."""
    split = urlsplit(url)
    raw_path = split.path or "/"
    raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if not any(name == b"host" for name, _ in raw_headers):
        raw_headers.insert(0, (b"host", split.netloc.encode("latin-1")))
    scope = {"type": "http", "method": method, "path": unquote(raw_path),
             "raw_path": raw_path.encode("latin-1"), "query_string": split.query.encode("latin-1"),
             "headers": raw_headers}
    pieces = [body[i:i + piece_size] for i in range(0, len(body), piece_size)] or [b""]
    messages = iter(enumerate(pieces, start=1))

    async def receive() -> Message:
        number, piece = next(messages, (0, b""))
        if not number:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": piece, "more_body": number < len(pieces)}

    return Request(scope, receive)


def body_bytes(aws_request: AWSRequest) -> bytes:
    body = aws_request.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return bytes(body.read())


def from_botocore(aws_request: AWSRequest, piece_size: int = 65536,
                  overrides: Mapping[str, str] | None = None) -> Request:
    """The signed botocore request as our server would see it; `overrides` replace headers."""
    headers = {name.lower(): str(value) for name, value in aws_request.headers.items()}
    headers.update({name.lower(): value for name, value in (overrides or {}).items()})
    body = body_bytes(aws_request)
    return make_request(aws_request.method, aws_request.url, headers.items(), body, piece_size)


def auth(request: Request, *, now: float | None = None, region: str = REGION,
         virtual_bucket: str | None = None) -> AuthResult:
    """Authenticate with the test key; the request must not be anonymous."""
    result = authenticate(request, lookup, region=region, now=now, virtual_bucket=virtual_bucket)
    assert result is not None
    return result


def read_body(result: AuthResult, request: Request) -> bytes:
    async def collect(stream: AsyncIterator[bytes]) -> bytes:
        return b"".join([piece async for piece in stream])

    return asyncio.run(collect(result.body(request.stream())))
