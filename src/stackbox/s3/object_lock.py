"""S3 Object Lock: Get/PutObjectLockConfiguration, Get/PutObjectRetention, Get/PutObjectLegalHold,
the `x-amz-object-lock-*` headers of writes and reads, and the errors of a locked version.

The engine keeps and enforces the locks (`stackbox.storage.locks`): a protected version's delete by
id and a weakening of its retention are refused inside the transaction that would write them.
Bypassing a GOVERNANCE retention (`x-amz-bypass-governance-retention: true`) is for callers with a
writing role on the bucket's project (S3's s3:BypassGovernanceRetention), never anonymous ones.
As AWS does today, PutObjectLockConfiguration also turns Object Lock on for an existing bucket whose
versioning is enabled (InvalidBucketState otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

from stackbox.digits import decimal
from stackbox.http import Response
from stackbox.s3 import authorize, xml
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.operations import BYPASS_GOVERNANCE
from stackbox.s3.versioning import requested_version
from stackbox.storage import types as storage
from stackbox.storage.types import LockConfiguration, LockMode, ObjectInfo, ObjectLock

_MODES: tuple[LockMode, ...] = ("GOVERNANCE", "COMPLIANCE")
_HOLD = {"ON": True, "OFF": False}
#: S3's bounds on a default retention period.
MAX_DAYS = 36_500
MAX_YEARS = 100
_MISSING_CONFIGURATION = "Bucket is missing Object Lock Configuration"
_NOT_CHECKSUMS = ("x-amz-checksum-mode", "x-amz-checksum-type", "x-amz-checksum-algorithm")


def enabled_on_create(headers: Mapping[str, str]) -> bool:
    """CreateBucket's `x-amz-bucket-object-lock-enabled: true`."""
    return headers.get("x-amz-bucket-object-lock-enabled", "").strip().lower() == "true"


async def bypasses_governance(call: S3Call) -> bool:
    """`x-amz-bypass-governance-retention: true` from a caller allowed s3:BypassGovernanceRetention (the
    bucket project's writers, or whom its policy allows)."""
    asked = call.headers.get("x-amz-bypass-governance-retention", "").strip().lower() == "true"
    return asked and await authorize.permits(call, BYPASS_GOVERNANCE)


def _mode(name: str) -> LockMode:
    return "GOVERNANCE" if name == "GOVERNANCE" else "COMPLIANCE"


# ---------------------------------------------------------------------------------------------- bucket


async def get_object_lock_configuration(call: S3Call) -> Response:
    config = await call.storage.read_lock_configuration(call.account, call.bucket)
    if config is None:
        raise S3Error("ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for "
                      "this bucket", BucketName=call.bucket)
    children = [xml.element("ObjectLockEnabled", "Enabled")]
    if config.default_mode is not None:
        period = (xml.element("Days", config.default_days) if config.default_days is not None
                  else xml.element("Years", config.default_years))
        children.append("<Rule><DefaultRetention>" + xml.element("Mode", config.default_mode) + period
                        + "</DefaultRetention></Rule>")
    return xml.xml_response("ObjectLockConfiguration", children)


async def put_object_lock_configuration(call: S3Call) -> Response:
    root = await call.read_document("ObjectLockConfiguration")
    if xml.child_text(root, "ObjectLockEnabled") != "Enabled":
        raise S3Error("MalformedXML")
    rule = root.find("Rule")
    config = LockConfiguration() if rule is None else _default_retention(rule)
    await call.storage.put_lock_configuration(call.account, call.bucket, config)
    return Response(b"", 200)


def _default_retention(rule: xml.ET.Element) -> LockConfiguration:
    retention = rule.find("DefaultRetention")
    if retention is None:
        raise S3Error("MalformedXML")
    mode = xml.child_text(retention, "Mode")
    days, years = xml.child_text(retention, "Days"), xml.child_text(retention, "Years")
    if mode not in _MODES or (days is None) == (years is None):
        raise S3Error("MalformedXML")
    period, bound = (days, MAX_DAYS) if days is not None else (years, MAX_YEARS)
    number = decimal(period.strip()) if period is not None else None
    if number is None or number <= 0:
        raise S3Error("InvalidArgument", "Default retention period must be a positive integer value",
                      ArgumentName="DefaultRetention", ArgumentValue=period or "")
    if number > bound:
        raise S3Error("InvalidArgument", "Default retention period is too large.",
                      ArgumentName="DefaultRetention", ArgumentValue=str(number))
    mode_name = _mode(mode)
    if days is not None:
        return LockConfiguration(mode_name, default_days=number)
    return LockConfiguration(mode_name, default_years=number)


# ---------------------------------------------------------------------------------------------- objects


async def get_object_retention(call: S3Call) -> Response:
    lock = await _object_lock(call)
    if lock.mode is None or lock.retain_until is None:
        raise _no_object_configuration()
    return xml.xml_response("Retention", [xml.element("Mode", lock.mode),
                                          xml.element("RetainUntilDate", iso8601_ms(lock.retain_until))])


async def put_object_retention(call: S3Call) -> Response:
    root = await call.read_document("Retention")
    mode, until = xml.child_text(root, "Mode"), xml.child_text(root, "RetainUntilDate")
    if (mode is None) != (until is None) or (mode is not None and mode not in _MODES):
        raise S3Error("MalformedXML")
    changes = {"mode": None, "retain_until": None} if mode is None or until is None else \
        {"mode": _mode(mode), "retain_until": future_date(until)}
    await call.storage.set_object_lock(call.account, call.bucket, call.key, requested_version(call), changes,
                                       bypass_governance=await bypasses_governance(call))
    return Response(b"", 200)


async def get_object_legal_hold(call: S3Call) -> Response:
    if not (await _object_lock(call)).legal_hold:
        raise _no_object_configuration()
    return xml.xml_response("LegalHold", [xml.element("Status", "ON")])


async def put_object_legal_hold(call: S3Call) -> Response:
    root = await call.read_document("LegalHold")
    status = xml.child_text(root, "Status")
    if status not in _HOLD:
        raise S3Error("MalformedXML")
    await call.storage.set_object_lock(call.account, call.bucket, call.key, requested_version(call),
                                       {"legal_hold": _HOLD[status]})
    return Response(b"", 200)


async def _object_lock(call: S3Call) -> ObjectLock:
    """The lock of the requested version, in a bucket with Object Lock (InvalidRequest otherwise)."""
    if await call.storage.get_lock_configuration(call.account, call.bucket) is None:
        raise S3Error("InvalidRequest", _MISSING_CONFIGURATION)
    return await call.storage.lock_state(call.account, call.bucket, call.key, requested_version(call))


def _no_object_configuration() -> S3Error:
    return S3Error("NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock "
                   "configuration")


# ---------------------------------------------------------------------------------------------- headers


async def requested_lock(call: S3Call) -> ObjectLock | None:
    """The lock the `x-amz-object-lock-*` headers of a PutObject, CopyObject or
    CreateMultipartUpload ask for (None: none), checked against the bucket's configuration."""
    headers = call.headers
    mode = headers.get("x-amz-object-lock-mode")
    until = headers.get("x-amz-object-lock-retain-until-date")
    hold = headers.get("x-amz-object-lock-legal-hold")
    if mode is None and until is None and hold is None:
        return None
    if (mode is None) != (until is None):
        raise S3Error("InvalidArgument", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode "
                      "must both be supplied", ArgumentName="x-amz-object-lock-mode",
                      ArgumentValue=mode or "")
    if mode is not None and mode not in _MODES:
        raise S3Error("InvalidArgument", "Unknown wormMode directive.", ArgumentName="x-amz-object-lock-mode",
                      ArgumentValue=mode)
    if hold is not None and hold not in _HOLD:
        raise S3Error("InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'",
                      ArgumentName="x-amz-object-lock-legal-hold", ArgumentValue=hold)
    retain_until = None if until is None else future_date(until)
    if await call.storage.get_lock_configuration(call.account, call.bucket) is None:
        raise S3Error("InvalidRequest", _MISSING_CONFIGURATION)
    return ObjectLock(None if mode is None else _mode(mode), retain_until, _HOLD.get(hold or "OFF", False))


async def check_upload_integrity(call: S3Call, lock: ObjectLock | None) -> None:
    """S3 wants Content-MD5 or a checksum on a PutObject that sets a lock, by header or by the
    bucket's default retention. The bucket is only looked up when the request carries neither."""
    if _carries_integrity(call.headers):
        return
    if lock is None:
        config = await call.storage.get_lock_configuration(call.account, call.bucket)
        if config is None or config.default_mode is None:
            return
    raise S3Error("InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object "
                  "requests with Object Lock parameters")


def _carries_integrity(headers: Mapping[str, str]) -> bool:
    if "content-md5" in headers or "x-amz-sdk-checksum-algorithm" in headers:
        return True
    if "x-amz-checksum-" in headers.get("x-amz-trailer", "").lower():
        return True
    return any(name.startswith("x-amz-checksum-") and name not in _NOT_CHECKSUMS for name in headers)


def lock_headers(obj: ObjectInfo) -> list[tuple[str, str]]:
    """What GetObject and HeadObject report of a version's lock."""
    lock = obj.lock
    headers = []
    if lock.mode is not None and lock.retain_until is not None:
        headers += [("x-amz-object-lock-mode", lock.mode),
                    ("x-amz-object-lock-retain-until-date", iso8601_ms(lock.retain_until))]
    if lock.legal_hold:
        headers.append(("x-amz-object-lock-legal-hold", "ON"))
    return headers


def future_date(value: str) -> float:
    """An ISO 8601 retain-until date, which must lie ahead."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise S3Error("InvalidArgument", "The retain until date must be provided in ISO 8601 format",
                      ArgumentName="RetainUntilDate", ArgumentValue=value) from None
    if parsed.tzinfo is None:
        raise S3Error("InvalidArgument", "The retain until date must be provided in ISO 8601 format",
                      ArgumentName="RetainUntilDate", ArgumentValue=value)
    moment = parsed.timestamp()
    if moment <= time.time():
        raise S3Error("InvalidArgument", "The retain until date must be in the future!",
                      ArgumentName="RetainUntilDate", ArgumentValue=value)
    return moment


def iso8601_ms(epoch: float) -> str:
    whole = int(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((epoch - whole) * 1000):03d}Z"


def storage_error(error: BaseException, call: S3Call) -> S3Error | None:
    """The S3 error of an Object Lock refusal of the engine (None: not one)."""
    if isinstance(error, storage.ObjectLocked):
        return S3Error("AccessDenied", "Access Denied because object protected by object lock.")
    if isinstance(error, storage.ObjectLockNotEnabled):
        return S3Error("InvalidRequest", _MISSING_CONFIGURATION)
    if isinstance(error, storage.LockedVersioning):
        if "versioning" in call.query:
            return S3Error("InvalidBucketState", "An Object Lock configuration is present on this bucket, so "
                           "the versioning state cannot be changed.")
        return S3Error("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object "
                       "Lock configuration")
    return None
