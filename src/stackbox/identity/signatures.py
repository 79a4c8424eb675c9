"""Signature checks behind `/v3/s3tokens` and `/v3/ec2tokens`.

s3tokens receives the string-to-sign itself (SigV2 or SigV4); ec2tokens receives the request parts
(verb, host, path, params, headers) and rebuilds it: EC2 SignatureVersion 2, or SigV4 in header or
query style.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from calendar import timegm
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

SIGV4 = "AWS4-HMAC-SHA256"
#: How old (or how far in the future) a signed request may be, as Keystone's credential.auth_ttl.
MAX_CLOCK_SKEW = 15 * 60


def _hmac(key: bytes, message: str, digest: str = "sha256") -> bytes:
    return hmac.new(key, message.encode("utf-8"), digest).digest()


def sigv4_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def sign_string(secret: str, string_to_sign: str) -> str:
    """The signature of an S3 string-to-sign: hex SigV4 when it says so, else base64 HMAC-SHA1 (SigV2)."""
    if string_to_sign.startswith(SIGV4):
        scope = string_to_sign.split("\n")[2].split("/")
        if len(scope) != 4:
            return ""
        date, region, service, _ = scope
        return hmac.new(sigv4_signing_key(secret, date, region, service), string_to_sign.encode(),
                        hashlib.sha256).hexdigest()
    return base64.b64encode(_hmac(secret.encode(), string_to_sign, "sha1")).decode()


def decode_token(token: str) -> str | None:
    """The string-to-sign s3token middleware sends urlsafe-base64 encoded."""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None


def check_s3token(secret: str, token: str, signature: str) -> bool:
    string_to_sign = decode_token(token)
    if string_to_sign is None or (string_to_sign.startswith(SIGV4) and string_to_sign.count("\n") < 3):
        return False
    return hmac.compare_digest(sign_string(secret, string_to_sign).encode(), signature.encode())


# ec2tokens -------------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")


def _canonical_query(params: Mapping[str, str], skip: str) -> str:
    return "&".join(f"{_quote(k)}={_quote(str(v))}" for k, v in sorted(params.items()) if k != skip)


def _sigv2(secret: str, creds: Mapping[str, Any], params: Mapping[str, str]) -> str:
    digest = "sha1" if params.get("SignatureMethod") == "HmacSHA1" else "sha256"
    string_to_sign = "\n".join([creds.get("verb", ""), creds.get("host", "").lower(), creds.get("path", ""),
                                _canonical_query(params, "Signature")])
    return base64.b64encode(_hmac(secret.encode(), string_to_sign, digest)).decode()


def _auth_header_fields(authorization: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in authorization[len(SIGV4):].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    return fields


def _sigv4(secret: str, creds: Mapping[str, Any], params: Mapping[str, str],
           headers: Mapping[str, str]) -> tuple[str, str]:
    """(signature, amz date) of a SigV4-signed EC2 request, header or query style."""
    if "X-Amz-Algorithm" in params:
        credential, signed, amz_date = (params.get("X-Amz-Credential", ""),
                                        params.get("X-Amz-SignedHeaders", ""), params.get("X-Amz-Date", ""))
    else:
        fields = _auth_header_fields(headers.get("authorization", ""))
        credential, signed = fields.get("Credential", ""), fields.get("SignedHeaders", "")
        amz_date = headers.get("x-amz-date", "")
    scope = credential.split("/")[1:]
    if len(scope) != 4 or not amz_date:
        return "", amz_date
    signed_names = signed.split(";")
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_names)
    canonical_request = "\n".join([
        creds.get("verb", ""), quote(creds.get("path", ""), safe="-_.~/"),
        _canonical_query(params, "X-Amz-Signature"), canonical_headers, signed,
        creds.get("body_hash", "") or hashlib.sha256(b"").hexdigest()])
    string_to_sign = "\n".join([SIGV4, amz_date, "/".join(scope),
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = sigv4_signing_key(secret, *scope[:3])
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest(), amz_date


def _timestamp(value: str) -> float | None:
    for layout in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return float(timegm(time.strptime(value, layout)))
        except ValueError:
            continue
    return None


def _fresh(stamp: str | None, now: float) -> bool:
    if not stamp:
        return True
    when = _timestamp(stamp)
    return when is not None and abs(now - when) <= MAX_CLOCK_SKEW


def check_ec2token(secret: str, creds: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether the EC2 request described by `creds` carries a correct, recent signature."""
    signature = creds.get("signature")
    params = creds.get("params") or {}
    headers = {str(k).lower(): str(v) for k, v in (creds.get("headers") or {}).items()}
    if not isinstance(signature, str) or not signature or not isinstance(params, dict):
        return False
    params = {str(k): str(v) for k, v in params.items()}
    now = time.time() if now is None else now
    stamp: str | None
    if "X-Amz-Algorithm" in params or headers.get("authorization", "").startswith(SIGV4):
        expected, stamp = _sigv4(secret, creds, params, headers)
    else:
        expected, stamp = _sigv2(secret, creds, params), params.get("Timestamp")
    fresh = _fresh(stamp, now)
    return bool(expected) and fresh and hmac.compare_digest(expected.encode(), signature.encode())
