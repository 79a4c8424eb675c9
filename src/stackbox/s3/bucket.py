"""Bucket operations: CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

import re

from stackbox.http import Response
from stackbox.s3 import grants, xml
from stackbox.s3.acl import header_acl
from stackbox.s3.authorize import BUCKET_ACL_META, BUCKET_OWNER_ENFORCED, OWNERSHIP_META, s3_owner
from stackbox.s3.bucket_policy import OWNERSHIP_SETTINGS, invalid_acl_with_ownership
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.object_lock import enabled_on_create
from stackbox.storage.contract import ObjectStore

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def check_name(name: str) -> None:
    """S3's DNS-compatible bucket naming rules."""
    if (not _BUCKET_NAME.match(name) or ".." in name or ".-" in name or "-." in name
            or _IP_ADDRESS.match(name)):
        raise S3Error("InvalidBucketName", BucketName=name)


async def create_bucket(call: S3Call) -> Response:
    meta = _new_bucket_meta(call)
    await _check_location(call)
    global_names = call.cloud.settings.s3_global_bucket_names
    if global_names and await held_elsewhere(call.storage, call.account, call.bucket):
        raise S3Error("BucketAlreadyExists", BucketName=call.bucket)
    locked = enabled_on_create(call.headers)
    create = call.storage.create_locked_container if locked else call.storage.create_container
    created = await create(call.account, call.bucket, meta)
    if not created:
        if call.cloud.settings.s3_region != "us-east-1":
            raise S3Error("BucketAlreadyOwnedByYou", BucketName=call.bucket)
        # us-east-1 keeps S3's original answer: creating a bucket you already own succeeds.
        return Response(b"", 200, [("location", f"/{call.bucket}")])
    if global_names and await s3_owner(call.storage, call.bucket) != call.account:
        # Another project created it in the same instant: S3 names are global, the first keeps it.
        await call.storage.delete_container(call.account, call.bucket)
        raise S3Error("BucketAlreadyExists", BucketName=call.bucket)
    return Response(b"", 200, [("location", f"/{call.bucket}")])


async def held_elsewhere(storage: ObjectStore, account: str, name: str) -> bool:
    """Another account holds a bucket (container) of this name: taken, in a global namespace."""
    return any(holder != account for holder in await storage.container_accounts(name))


def _new_bucket_meta(call: S3Call) -> dict[str, str]:
    """The new bucket's ACL (x-amz-acl or x-amz-grant-*) and object ownership (x-amz-object-ownership)."""
    acl = header_acl(call) or "private"
    meta = {BUCKET_ACL_META: acl}
    ownership = call.headers.get("x-amz-object-ownership")
    if ownership is not None:
        if ownership not in OWNERSHIP_SETTINGS:
            raise S3Error("InvalidArgument", "Invalid x-amz-object-ownership header",
                          ArgumentName="x-amz-object-ownership", ArgumentValue=ownership)
        if ownership == BUCKET_OWNER_ENFORCED and grants.stored_grants(acl):
            raise invalid_acl_with_ownership()
        meta[OWNERSHIP_META] = ownership
    return meta


async def _check_location(call: S3Call) -> None:
    """An optional CreateBucketConfiguration must name our region (or none)."""
    body = await call.read_body()
    if not body.strip():
        return
    root = xml.parse(body, "CreateBucketConfiguration")
    location = xml.child_text(root, "LocationConstraint", "") or ""
    region = call.cloud.settings.s3_region
    if location not in ("", region) and not (region == "us-east-1" and location == "US"):
        raise S3Error("InvalidLocationConstraint", "The specified location-constraint is not valid",
                      LocationConstraint=location)


async def head_bucket(call: S3Call) -> Response:
    await call.storage.get_container(call.account, call.bucket)
    return Response(b"", 200, [("x-amz-bucket-region", call.cloud.settings.s3_region)], "application/xml")


async def delete_bucket(call: S3Call) -> Response:
    await call.storage.delete_container(call.account, call.bucket)
    return Response(b"", 204)


async def get_location(call: S3Call) -> Response:
    await call.storage.get_container(call.account, call.bucket)
    region = call.cloud.settings.s3_region
    # S3 answers an empty constraint for us-east-1, the region's name elsewhere.
    return xml.xml_response("LocationConstraint", [] if region == "us-east-1" else [xml.text(region)])


#: GET of a configuration stackbox never holds: what S3 answers for a bucket without one (SDKs and
#: Terraform read them all back). Writing them stays NotImplemented.
_EMPTY_CONFIGURATIONS: dict[str, tuple[str, list[str]]] = {
    "logging": ("BucketLoggingStatus", []),
    "accelerate": ("AccelerateConfiguration", []),
    "notification": ("NotificationConfiguration", []),
    "requestPayment": ("RequestPaymentConfiguration", ["<Payer>BucketOwner</Payer>"]),
}
_MISSING_CONFIGURATIONS = {"replication": "ReplicationConfigurationNotFoundError",
                           "website": "NoSuchWebsiteConfiguration"}


async def unsupported(call: S3Call) -> Response:
    await call.storage.get_container(call.account, call.bucket)
    if call.request.method == "GET" and not call.key:
        for name, (root, children) in _EMPTY_CONFIGURATIONS.items():
            if name in call.query:
                return xml.xml_response(root, children)
        for name, code in _MISSING_CONFIGURATIONS.items():
            if name in call.query:
                raise S3Error(code, BucketName=call.bucket)
    raise S3Error("NotImplemented", "This operation is not implemented.")
