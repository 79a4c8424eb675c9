"""Bucket policies (Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus), the public access block
(Put/Get/DeletePublicAccessBlock) and ownership controls (Put/Get/DeleteBucketOwnershipControls).

What they mean for each request is decided in authorize.py.
"""

from __future__ import annotations

from stackbox.http import Response
from stackbox.s3 import grants, xml
from stackbox.s3.authorize import (
    BUCKET_ACL_META,
    BUCKET_OWNER_ENFORCED,
    OWNERSHIP_META,
    POLICY_META,
    PUBLIC_ACCESS_BLOCK_META,
    AccessBlock,
)
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.policy import MAX_POLICY_BYTES, compiled, malformed, parse

OWNERSHIP_SETTINGS = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
_BLOCK_FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


async def _meta(call: S3Call) -> dict[str, str]:
    """The committed configuration (queried: a Get shows the caller's Put, whichever node answers)."""
    return dict(await call.storage.read_container_meta(call.account, call.bucket))


async def put_bucket_policy(call: S3Call) -> Response:
    body = await call.read_body(MAX_POLICY_BYTES + 1)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("This policy contains invalid Json") from None
    policy = parse(text, call.bucket)
    meta = await _meta(call)
    if policy.public and AccessBlock.stored(meta.get(PUBLIC_ACCESS_BLOCK_META)).block_public_policy:
        raise S3Error("AccessDenied")
    await call.storage.update_container_meta(call.account, call.bucket, {POLICY_META: text})
    return Response(b"", 204)


async def get_bucket_policy(call: S3Call) -> Response:
    text = (await _meta(call)).get(POLICY_META)
    if text is None:
        raise S3Error("NoSuchBucketPolicy", BucketName=call.bucket)
    return Response(text.encode("utf-8"), 200, None, "application/json")


async def delete_bucket_policy(call: S3Call) -> Response:
    await call.storage.update_container_meta(call.account, call.bucket, {}, remove=[POLICY_META])
    return Response(b"", 204)


async def get_bucket_policy_status(call: S3Call) -> Response:
    text = (await _meta(call)).get(POLICY_META)
    if text is None:
        raise S3Error("NoSuchBucketPolicy", BucketName=call.bucket)
    return xml.xml_response("PolicyStatus", [xml.element("IsPublic", compiled(text, call.bucket).public)])


async def put_public_access_block(call: S3Call) -> Response:
    root = await call.read_document("PublicAccessBlockConfiguration")
    flags = []
    for name in _BLOCK_FIELDS:
        value = (xml.child_text(root, name, "false") or "").strip().lower()
        if value not in ("true", "false"):
            raise S3Error("MalformedXML")
        flags.append(value == "true")
    block = AccessBlock(*flags)
    await call.storage.update_container_meta(call.account, call.bucket,
                                             {PUBLIC_ACCESS_BLOCK_META: block.encode()})
    return Response(b"", 200)


async def get_public_access_block(call: S3Call) -> Response:
    stored = (await _meta(call)).get(PUBLIC_ACCESS_BLOCK_META)
    if stored is None:
        raise S3Error("NoSuchPublicAccessBlockConfiguration", BucketName=call.bucket)
    block = AccessBlock.stored(stored)
    values = (block.block_public_acls, block.ignore_public_acls, block.block_public_policy,
              block.restrict_public_buckets)
    children = [xml.element(name, value) for name, value in zip(_BLOCK_FIELDS, values, strict=True)]
    return xml.xml_response("PublicAccessBlockConfiguration", children)


async def delete_public_access_block(call: S3Call) -> Response:
    await call.storage.update_container_meta(call.account, call.bucket, {}, remove=[PUBLIC_ACCESS_BLOCK_META])
    return Response(b"", 204)


async def put_ownership_controls(call: S3Call) -> Response:
    root = await call.read_document("OwnershipControls")
    rules = root.findall("Rule")
    setting = xml.child_text(rules[0], "ObjectOwnership") if len(rules) == 1 else None
    if setting not in OWNERSHIP_SETTINGS:
        raise S3Error("MalformedXML")
    meta = await _meta(call)
    if setting == BUCKET_OWNER_ENFORCED and grants.stored_grants(meta.get(BUCKET_ACL_META)):
        raise invalid_acl_with_ownership()
    await call.storage.update_container_meta(call.account, call.bucket, {OWNERSHIP_META: setting})
    return Response(b"", 200)


async def get_ownership_controls(call: S3Call) -> Response:
    setting = (await _meta(call)).get(OWNERSHIP_META)
    if setting is None:
        raise S3Error("OwnershipControlsNotFoundError", BucketName=call.bucket)
    return xml.xml_response("OwnershipControls",
                            [f"<Rule>{xml.element('ObjectOwnership', setting)}</Rule>"])


async def delete_ownership_controls(call: S3Call) -> Response:
    await call.storage.update_container_meta(call.account, call.bucket, {}, remove=[OWNERSHIP_META])
    return Response(b"", 204)


def invalid_acl_with_ownership() -> S3Error:
    return S3Error("InvalidBucketAclWithObjectOwnership",
                   "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
