"""Canned ACLs: Get/PutBucketAcl and Get/PutObjectAcl.

Only canned ACLs are stored (private, public-read, public-read-write, authenticated-read); an
AccessControlPolicy document is accepted when its grants amount to one of them.
"""

from __future__ import annotations

from stackbox.http import Response
from stackbox.s3 import xml
from stackbox.s3.authorize import BUCKET_ACL_META
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.headers import canned_acl
from stackbox.s3.list import owner, owner_fields
from stackbox.s3.versioning import requested_version, version_headers

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
#: canned ACL -> the group grants it adds to the owner's FULL_CONTROL.
_GROUP_GRANTS = {
    "public-read": ((ALL_USERS, "READ"),),
    "public-read-write": ((ALL_USERS, "READ"), (ALL_USERS, "WRITE")),
    "authenticated-read": ((AUTHENTICATED_USERS, "READ"),),
}


async def get_bucket_acl(call: S3Call) -> Response:
    info = call.storage.get_container(call.account, call.bucket)
    return _policy(call, info.meta.get(BUCKET_ACL_META))


async def put_bucket_acl(call: S3Call) -> Response:
    acl = await _requested_acl(call)
    call.storage.update_container_meta(call.account, call.bucket, {BUCKET_ACL_META: acl})
    return Response(b"", 200)


async def get_object_acl(call: S3Call) -> Response:
    obj = call.storage.head_object(call.account, call.bucket, call.key, requested_version(call))
    call.check_object_acl(obj.acl)
    return _policy(call, obj.acl, version_headers(obj))


async def put_object_acl(call: S3Call) -> Response:
    if call.object_acl_decides:  # not the bucket's owner: the object's ACL must grant WRITE_ACP
        obj = call.storage.head_object(call.account, call.bucket, call.key, requested_version(call))
        call.check_object_acl(obj.acl)
    acl = await _requested_acl(call)
    info = call.storage.update_version(call.account, call.bucket, call.key, requested_version(call),
                                       {"acl": acl})
    return Response(b"", 200, version_headers(info))


def _policy(call: S3Call, acl: str | None, headers: list[tuple[str, str]] | None = None) -> Response:
    owner_grantee = f'<Grantee {_XSI} xsi:type="CanonicalUser">{owner_fields(call)}</Grantee>'
    grants = [f"<Grant>{owner_grantee}<Permission>FULL_CONTROL</Permission></Grant>"]
    grants += [f'<Grant><Grantee {_XSI} xsi:type="Group">{xml.element("URI", uri)}</Grantee>'
               f"{xml.element('Permission', permission)}</Grant>"
               for uri, permission in _GROUP_GRANTS.get(acl or "private", ())]
    return xml.xml_response("AccessControlPolicy",
                            [owner(call), f"<AccessControlList>{''.join(grants)}</AccessControlList>"],
                            headers=headers)


async def _requested_acl(call: S3Call) -> str:
    if any(name.startswith("x-amz-grant-") for name in call.headers):
        raise S3Error("NotImplemented", "x-amz-grant-* headers are not implemented; use a canned ACL.")
    header_acl = canned_acl(call.headers)
    body = await call.read_body()
    if header_acl is not None:
        if body.strip():
            raise S3Error("UnexpectedContent", "This request does not support content")
        return header_acl
    if not body.strip():
        raise S3Error("MissingSecurityHeader", MissingHeaderName="x-amz-acl")
    return _canned_from_document(body)


def _canned_from_document(body: bytes) -> str:
    try:
        root = xml.parse(body, "AccessControlPolicy")
    except S3Error:
        raise _malformed_acl() from None
    groups: set[tuple[str, str]] = set()
    for grant in root.iter("Grant"):
        grantee = grant.find("Grantee")
        permission = xml.child_text(grant, "Permission")
        if grantee is None or permission is None:
            raise _malformed_acl()
        uri = xml.child_text(grantee, "URI")
        if uri is not None:
            groups.add((uri, permission))
    for canned, grants in sorted(_GROUP_GRANTS.items(), key=lambda item: -len(item[1])):
        if set(grants) <= groups:
            return canned
    return "private"


def _malformed_acl() -> S3Error:
    """S3 answers a bad ACL document with this code rather than MalformedXML."""
    return S3Error("MalformedACLError", "The XML you provided was not well-formed or did not validate "
                   "against our published schema")
