"""Presigned URLs: SigV4 (`X-Amz-Algorithm`, `X-Amz-Credential`, ... `X-Amz-Signature`) and SigV2
(`AWSAccessKeyId`, `Expires`, `Signature`), parsed and checked for expiry with S3's errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stackbox.s3.errors import S3Error
from stackbox.s3.signature.canonical import ALGORITHM_V4, MAX_SKEW_SECONDS, format_iso8601, parse_amz_date
from stackbox.s3.signature.header import (
    V2Authorization,
    V4Authorization,
    parse_credential,
    parse_signed_headers,
)

MAX_EXPIRES_SECONDS = 7 * 24 * 3600
V4_PARAMETERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                 "X-Amz-SignedHeaders", "X-Amz-Expires")
V2_PARAMETERS = ("AWSAccessKeyId", "Signature", "Expires")
_CREDENTIAL_PREFIX = "Error parsing the X-Amz-Credential parameter; "


@dataclass(frozen=True, slots=True)
class V4Presigned:
    authorization: V4Authorization
    amz_date: str
    epoch: float
    expires: int


@dataclass(frozen=True, slots=True)
class V2Presigned:
    authorization: V2Authorization
    expires: str


def is_v4_presigned(query: Mapping[str, str]) -> bool:
    return "X-Amz-Algorithm" in query or "X-Amz-Credential" in query or "X-Amz-Signature" in query


def is_v2_presigned(query: Mapping[str, str]) -> bool:
    return "AWSAccessKeyId" in query or "Signature" in query


def _query_error(message: str) -> S3Error:
    return S3Error("AuthorizationQueryParametersError", message)


def _expires_seconds(text: str) -> int:
    """X-Amz-Expires; S3 refuses a bad one with 403 (not the 400 of its other parameter errors)."""
    try:
        expires = int(text)
    except ValueError:
        raise _expires_error("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise _expires_error("X-Amz-Expires must be non-negative")
    if expires > MAX_EXPIRES_SECONDS:
        raise _expires_error("X-Amz-Expires must be less than a week (in seconds); that is, the given "
                             f"X-Amz-Expires must be less than {MAX_EXPIRES_SECONDS} seconds")
    return expires


def _expires_error(message: str) -> S3Error:
    return S3Error("AuthorizationQueryParametersError", message, status=403)


def parse_v4_presigned(query: Mapping[str, str], *, region: str) -> V4Presigned:
    """The presigned SigV4 parameters, with the scope checked against `region`."""
    # An empty X-Amz-SignedHeaders passes here: S3 refuses it later, for leaving `host` unsigned.
    if "X-Amz-SignedHeaders" not in query or not all(
            query.get(name) for name in V4_PARAMETERS if name != "X-Amz-SignedHeaders"):
        raise _query_error("Query-string authentication version 4 requires the X-Amz-Algorithm, "
                           "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                           "and X-Amz-Expires parameters.")
    if query["X-Amz-Algorithm"] != ALGORITHM_V4:
        raise _query_error(f'X-Amz-Algorithm only supports "{ALGORITHM_V4}"')
    amz_date = query["X-Amz-Date"]
    epoch = parse_amz_date(amz_date)
    if epoch is None:
        raise _query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    expires = _expires_seconds(query["X-Amz-Expires"])
    credential = parse_credential(query["X-Amz-Credential"], error_code="AuthorizationQueryParametersError",
                                  prefix=_CREDENTIAL_PREFIX)
    credential.check(region=region, amz_date=amz_date, error_code="AuthorizationQueryParametersError",
                     prefix=_CREDENTIAL_PREFIX)
    authorization = V4Authorization(credential, parse_signed_headers(query["X-Amz-SignedHeaders"]),
                                    query["X-Amz-Signature"])
    return V4Presigned(authorization, amz_date, epoch, expires)


def check_v4_validity(presigned: V4Presigned, now: float) -> None:
    """AccessDenied once the URL has expired, or while it is dated too far in the future."""
    if presigned.epoch - now > MAX_SKEW_SECONDS:
        raise S3Error("AccessDenied", "Request is not valid yet")
    if now > presigned.epoch + presigned.expires:
        error = S3Error("AccessDenied", "Request has expired",
                        Expires=format_iso8601(presigned.epoch + presigned.expires),
                        ServerTime=format_iso8601(now))
        error.extra = {"X-Amz-Expires": str(presigned.expires), **error.extra}
        raise error


def parse_v2_presigned(query: Mapping[str, str], now: float) -> V2Presigned:
    """The presigned SigV2 parameters; AccessDenied if incomplete or expired."""
    if not all(query.get(name) for name in V2_PARAMETERS):
        raise S3Error("AccessDenied", "Query-string authentication requires the Signature, Expires and "
                      "AWSAccessKeyId parameters")
    expires = query["Expires"]
    try:
        expires_epoch = int(expires)
    except ValueError:
        raise S3Error("AccessDenied", f"Invalid date (should be seconds since epoch): {expires}") from None
    if now > expires_epoch:
        raise S3Error("AccessDenied", "Request has expired", Expires=format_iso8601(max(expires_epoch, 0)),
                      ServerTime=format_iso8601(now))
    return V2Presigned(V2Authorization(query["AWSAccessKeyId"], query["Signature"]), expires)
