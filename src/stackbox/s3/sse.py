"""Server-side encryption headers: what a request asks for (SSE-S3, SSE-KMS, SSE-C, the bucket's
default) and what an answer says; the engine (storage/sealing.py, storage/keys.py) does the rest.

The customer's key (SSE-C) is checked here for form (32 bytes, its MD5) and handed to the engine,
which keeps only a salted HMAC of it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Mapping

import orjson

from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.storage import types as storage
from stackbox.storage.types import Encryption, Sealing

SSE = "x-amz-server-side-encryption"
KMS_KEY_ID = f"{SSE}-aws-kms-key-id"
CONTEXT = f"{SSE}-context"
BUCKET_KEY = f"{SSE}-bucket-key-enabled"
CUSTOMER = f"{SSE}-customer-"
COPY_SOURCE_CUSTOMER = "x-amz-copy-source-server-side-encryption-customer-"
#: The bucket's default encryption, in its container metadata (JSON).
BUCKET_DEFAULT_META = "s3:encryption"
MODES = ("AES256", "aws:kms")
#: The account number in the key ARNs we answer with (stackbox's keys belong to no AWS account).
KMS_ACCOUNT = "000000000000"


async def requested_encryption(call: S3Call) -> Encryption | None:
    """How a new object (PutObject, CopyObject, CreateMultipartUpload) is to be encrypted: as its
    headers say, else as the bucket's default encryption says, else not at all."""
    if _has_customer_headers(call.headers, CUSTOMER):
        _require_secure(call)
    requested = encryption_of_headers(call.headers)
    return requested if requested is not None else await bucket_default(call)


def encryption_of_headers(headers: Mapping[str, str]) -> Encryption | None:
    """The encryption a write's headers ask for (None: they ask for none); S3's errors for bad ones."""
    secret = customer_key(headers, CUSTOMER)
    mode = headers.get(SSE)
    if secret is not None:
        if mode is not None:
            raise S3Error("InvalidArgument", "Server Side Encryption with Customer provided key is "
                          "incompatible with the encryption method specified", ArgumentName=SSE,
                          ArgumentValue=mode)
        return Encryption("SSE-C", customer_key=secret)
    if mode is None:
        for name in (KMS_KEY_ID, CONTEXT):
            if name in headers:
                raise _kms_header_without_kms(name, headers[name])
        return None
    if mode not in MODES:
        raise S3Error("InvalidArgument", "The encryption method specified is not supported",
                      ArgumentName=SSE, ArgumentValue=mode)
    if mode == "AES256":
        for name in (KMS_KEY_ID, CONTEXT):
            if name in headers:
                raise _kms_header_without_kms(name, headers[name])
        return Encryption("AES256")
    return Encryption("aws:kms", kms_key_id=headers.get(KMS_KEY_ID) or None,
                      context=_context(headers.get(CONTEXT)), bucket_key=_bucket_key(headers))


def changes_encryption(headers: Mapping[str, str]) -> bool:
    """Whether a copy onto itself asks for new encryption (which makes it a legal self-copy)."""
    return SSE in headers or f"{CUSTOMER}algorithm" in headers


def customer_key_of(call: S3Call, prefix: str = CUSTOMER) -> bytes | None:
    """The SSE-C key of the request's `prefix` headers (None without them), checked as S3 checks it."""
    if not _has_customer_headers(call.headers, prefix):
        return None  # every GET, HEAD and PUT asks: the usual answer costs three dict lookups
    _require_secure(call)
    return customer_key(call.headers, prefix)


@functools.cache
def _customer_names(prefix: str) -> tuple[str, str, str]:
    return f"{prefix}algorithm", f"{prefix}key", f"{prefix}key-md5"


def _has_customer_headers(headers: Mapping[str, str], prefix: str) -> bool:
    algorithm, key, key_md5 = _customer_names(prefix)
    return algorithm in headers or key in headers or key_md5 in headers


def customer_key(headers: Mapping[str, str], prefix: str = CUSTOMER) -> bytes | None:
    """The SSE-C key of the `prefix` headers (None without them); InvalidArgument as S3 answers."""
    if not _has_customer_headers(headers, prefix):
        return None
    algorithm, key, key_md5 = (headers.get(name) for name in _customer_names(prefix))
    if algorithm != "AES256":
        raise S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided "
                      "keys must provide a valid encryption algorithm.", ArgumentName=f"{prefix}algorithm",
                      ArgumentValue=algorithm or "null")
    if not key:
        raise S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided "
                      "keys must provide an appropriate secret key.", ArgumentName=f"{prefix}key",
                      ArgumentValue="null")
    try:
        secret = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != 32:
        raise S3Error("InvalidArgument", "The secret key was invalid for the specified algorithm.",
                      ArgumentName=f"{prefix}key", ArgumentValue="null")
    if not key_md5:
        raise S3Error("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided "
                      "keys must provide the client calculated MD5 of the secret key.",
                      ArgumentName=f"{prefix}key-MD5", ArgumentValue="null")
    if key_md5 != base64.b64encode(hashlib.md5(secret, usedforsecurity=False).digest()).decode():
        raise S3Error("InvalidArgument", "The calculated MD5 hash of the key did not match the hash that was "
                      "provided.", ArgumentName=f"{prefix}key-MD5", ArgumentValue=key_md5)
    return secret


def encryption_headers(call: S3Call, sealing: Sealing | None, *,
                       written: bool = False) -> list[tuple[str, str]]:
    """The SSE headers of an answer about an object (or upload) encrypted as `sealing` says; `written`
    for the answers to writes, which also echo the encryption context."""
    if sealing is None:
        return []
    if sealing.mode == "SSE-C":
        key_md5 = call.headers.get(f"{CUSTOMER}key-md5")
        if key_md5 is None:
            return []
        return [(f"{CUSTOMER}algorithm", "AES256"), (f"{CUSTOMER}key-MD5", key_md5)]
    headers: list[tuple[str, str]] = [(SSE, sealing.mode)]
    if sealing.mode == "aws:kms":
        headers.append((KMS_KEY_ID, key_arn(call, sealing.key_id or "")))
        if written and sealing.context:
            headers.append((CONTEXT, sealing.context))
        if sealing.bucket_key:
            headers.append((BUCKET_KEY, "true"))
    return headers


def key_arn(call: S3Call, key_id: str) -> str:
    return f"arn:aws:kms:{call.cloud.settings.s3_region}:{KMS_ACCOUNT}:key/{key_id}"


async def bucket_default(call: S3Call) -> Encryption | None:
    raw = (await call.bucket_meta()).get(BUCKET_DEFAULT_META)
    if raw is None:
        return None
    rule = orjson.loads(raw)
    if rule["algorithm"] == "AES256":
        return Encryption("AES256")
    return Encryption("aws:kms", kms_key_id=rule.get("kms_key_id"), bucket_key=bool(rule.get("bucket_key")))


def storage_error(error: BaseException, call: S3Call) -> S3Error | None:
    """The S3 answer to the engine's encryption errors (None for any other error)."""
    uploading_part = "uploadId" in call.query and "partNumber" in call.query
    if isinstance(error, storage.CustomerKeyRequired):
        if uploading_part and not _copy_source_sealed_error(call):
            return S3Error("InvalidRequest", "The multipart upload initiate requested encryption. Subsequent "
                           "part requests must include the appropriate encryption parameters.")
        return S3Error("InvalidRequest", "The object was stored using a form of Server Side Encryption. The "
                       "correct parameters must be provided to retrieve the object.")
    if isinstance(error, storage.WrongCustomerKey):
        if uploading_part and "x-amz-copy-source" not in call.headers:
            return S3Error("InvalidArgument", "The provided encryption parameters did not match the ones "
                           "used originally.")
        return S3Error("AccessDenied")
    if isinstance(error, storage.CustomerKeyNotApplicable):
        return S3Error("InvalidRequest", "The encryption parameters are not applicable to this object.")
    if isinstance(error, storage.KeyNotFound):
        return S3Error("KMS.NotFoundException", f"Invalid keyId {error.key_ref}")
    if isinstance(error, storage.KeyDisabled):
        return S3Error("KMS.DisabledException", f"{key_arn(call, error.key_id)} is disabled.")
    return None


def _copy_source_sealed_error(call: S3Call) -> bool:
    return "x-amz-copy-source" in call.headers and f"{COPY_SOURCE_CUSTOMER}key" not in call.headers


def _require_secure(call: S3Call) -> None:
    """AWS refuses SSE-C over plain HTTP; stackbox serves plain HTTP itself (usually behind a TLS
    proxy), so it accepts it unless STACKBOX_SSE_C_PLAIN_HTTP=false. The scheme is the connection's,
    or the X-Forwarded-Proto of a proxy that STACKBOX_FORWARDED_ALLOW_IPS trusts (the server sets it)."""
    if call.cloud.settings.sse_c_plain_http:
        return
    if call.request.scope.get("scheme", "http") != "https":
        raise S3Error("InvalidRequest", "Requests specifying Server Side Encryption with Customer provided "
                      "keys must be made over a secure connection.")


def _kms_header_without_kms(name: str, value: str) -> S3Error:
    return S3Error("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header "
                   "x-amz-server-side-encryption : aws:kms", ArgumentName=name, ArgumentValue=value)


def _context(raw: str | None) -> str | None:
    """The encryption context as sent, once known to be base64 of a JSON object of strings."""
    if raw is None:
        return None
    try:
        document = orjson.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        document = None
    if not isinstance(document, dict) or not all(isinstance(value, str) for value in document.values()):
        raise S3Error("InvalidArgument", "The header 'x-amz-server-side-encryption-context' shall be "
                      "Base64-encoded UTF-8 string holding JSON which represents a string-string map",
                      ArgumentName=CONTEXT, ArgumentValue=raw)
    return raw


def _bucket_key(headers: Mapping[str, str]) -> bool:
    raw = headers.get(BUCKET_KEY)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise S3Error("InvalidArgument", "Invalid value for header", ArgumentName=BUCKET_KEY,
                      ArgumentValue=raw)
    return raw.lower() == "true"
