"""What gets signed: the SigV4 canonical request and string to sign, the SigV2 string to sign, and
the request time with its allowed clock skew.

S3's SigV4 rules differ from other AWS services: the path is signed exactly as sent (no
normalisation, no second round of percent-encoding); query parameters are decoded, re-encoded
with RFC 3986 unreserved characters kept, and sorted.
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Iterable, Sequence
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from stackbox.s3.errors import S3Error

ALGORITHM_V4 = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MAX_SKEW_SECONDS = 15 * 60
_UNRESERVED = "-_.~"
_PRESIGNED_UNSIGNED = frozenset({"x-amz-content-sha256"})

#: Query parameters that are part of a SigV2 canonical resource (S3's sub-resources and the
#: response header overrides); every other parameter is left out of the V2 signature.
V2_SUBRESOURCES = frozenset({
    "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
    "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics", "notification",
    "object-lock", "ownershipControls", "partNumber", "policy", "policyStatus", "publicAccessBlock",
    "replication", "requestPayment", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type", "response-expires",
    "restore", "retention", "select", "select-type", "tagging", "torrent", "uploadId", "uploads",
    "versionId", "versioning", "versions", "website",
})


def uri_encode(raw: bytes, *, keep_slash: bool = False) -> str:
    """RFC 3986 percent-encoding of every byte but the unreserved ones (and `/` if asked)."""
    return quote(raw, safe=_UNRESERVED + "/" if keep_slash else _UNRESERVED)


def _query_pairs(query_string: str) -> Iterable[tuple[str, bytes, bytes | None]]:
    """(raw name, decoded name, decoded value or None when there is no `=`) for each parameter."""
    for item in query_string.split("&"):
        if not item:
            continue
        name, equals, value = item.partition("=")
        decoded_value = unquote_to_bytes(value.encode("latin-1")) if equals else None
        yield name, unquote_to_bytes(name.encode("latin-1")), decoded_value


def canonical_query(query_string: str, *, without: str | None = None) -> str:
    """The SigV4 canonical query string; `without` drops one parameter (presigned X-Amz-Signature)."""
    if not query_string:
        return ""
    encoded = sorted(
        (uri_encode(name), uri_encode(value or b""))
        for raw_name, name, value in _query_pairs(query_string)
        if raw_name != without
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_headers(raw_headers: Sequence[tuple[bytes, bytes]], signed: Sequence[str]) -> str:
    """`name:value\\n` for each signed header, in the signed order. Repeated headers are joined with
    `,`; values are trimmed and inner runs of spaces folded to one, as the signer did."""
    values: dict[str, list[str]] = {name: [] for name in signed}
    for raw_name, raw_value in raw_headers:
        found = values.get(raw_name.decode("latin-1").lower())
        if found is not None:
            found.append(b" ".join(raw_value.split()).decode("latin-1"))
    return "".join(f"{name}:{','.join(values[name])}\n" for name in signed)


def unsigned_headers(headers: Iterable[str], signed: Sequence[str], *, presigned: bool) -> list[str]:
    """The headers S3 requires signed but were not: `host`, and every `x-amz-*` header sent. A
    presigned URL's holder may add `x-amz-content-sha256`: its value is in the canonical request anyway."""
    signed_set = set(signed)
    exempt = _PRESIGNED_UNSIGNED if presigned else frozenset()
    missing = {"host"} - signed_set
    missing.update(name for name in headers
                   if name.startswith("x-amz-") and name not in signed_set and name not in exempt)
    return sorted(missing)


def canonical_request_v4(method: str, path: str, query: str, headers: str, signed: Sequence[str],
                         payload_hash: str) -> str:
    return "\n".join((method, path or "/", query, headers, ";".join(signed), payload_hash))


def s3_encoded_path(raw_path: str) -> str:
    """The path re-encoded the way AWS SDKs encode it: a second chance for clients that leave
    characters such as `!`, `(` or `'` unencoded on the wire but encode them when signing."""
    return uri_encode(unquote_to_bytes(raw_path.encode("latin-1")), keep_slash=True)


def string_to_sign_v4(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("latin-1")).hexdigest()
    return f"{ALGORITHM_V4}\n{amz_date}\n{scope}\n{digest}"


def canonical_resource_v2(raw_path: str, query_string: str, bucket: str | None) -> str:
    """The SigV2 resource: `/bucket` prefixed for virtual-hosted requests, then the sub-resources."""
    resource = f"/{bucket}{raw_path}" if bucket else raw_path or "/"
    subresources = sorted(
        (raw_name, value) for raw_name, _, value in _query_pairs(query_string) if raw_name in V2_SUBRESOURCES
    )
    if not subresources:
        return resource
    rendered = (name if value is None else f"{name}={value.decode('latin-1')}"
                for name, value in subresources)
    return f"{resource}?{'&'.join(rendered)}"


def string_to_sign_v2(method: str, raw_headers: Sequence[tuple[bytes, bytes]], headers: dict[str, str],
                      date_line: str, resource: str) -> str:
    """METHOD, Content-MD5, Content-Type, the date line, the `x-amz-*` headers sorted, the resource."""
    amz_headers: dict[str, list[str]] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name.startswith("x-amz-"):
            amz_headers.setdefault(name, []).append(raw_value.decode("latin-1").strip())
    lines = [method, headers.get("content-md5", "").strip(), headers.get("content-type", "").strip(),
             date_line]
    lines.extend(f"{name}:{','.join(amz_headers[name])}" for name in sorted(amz_headers))
    lines.append(resource)
    return "\n".join(lines)


def parse_amz_date(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 basic timestamp (`20130524T000000Z`), or None."""
    if len(text) != 16 or text[8] != "T" or text[15] != "Z":
        return None
    digits = text[:8] + text[9:15]
    if not digits.isdigit():
        return None
    try:
        return float(calendar.timegm((int(digits[:4]), int(digits[4:6]), int(digits[6:8]),
                                      int(digits[8:10]), int(digits[10:12]), int(digits[12:14]))))
    except (ValueError, OverflowError):
        return None


def parse_http_date(text: str) -> float | None:
    """Seconds since the epoch of an HTTP `Date` header value, or None."""
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def format_amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def format_iso8601(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def request_time(headers: dict[str, str]) -> tuple[str, float]:
    """The signed timestamp (`x-amz-date`, else `Date`) as given and as epoch seconds."""
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        epoch = parse_amz_date(amz_date) or parse_http_date(amz_date)
    else:
        amz_date = headers.get("date", "")
        epoch = parse_http_date(amz_date) if amz_date else None
    if epoch is None or epoch < 0:  # S3 takes no date before the epoch for a valid one
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    return amz_date, epoch


def check_skew(request_epoch: float, request_time_text: str, now: float) -> None:
    if abs(now - request_epoch) > MAX_SKEW_SECONDS:
        raise S3Error("RequestTimeTooSkewed", RequestTime=request_time_text,
                      ServerTime=format_iso8601(now), MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000))
