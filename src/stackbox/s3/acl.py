"""ACLs: Get/PutBucketAcl and Get/PutObjectAcl, from a canned ACL, `x-amz-grant-*` headers or an
AccessControlPolicy document.

Grants are stored as grants (grants.py: a canned name when they are exactly a canned ACL's, which is
also what earlier releases stored); the owner's FULL_CONTROL is implicit and always shown first.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from stackbox.http import Response
from stackbox.s3 import authorize, grantees, grants, xml
from stackbox.s3.authorize import BUCKET_ACL_META
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error
from stackbox.s3.grants import Grant, Grantee
from stackbox.s3.headers import canned_acl
from stackbox.s3.list import owner, owner_fields
from stackbox.s3.versioning import requested_version, version_headers

_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
#: xsi:type -> (the element naming the grantee, how a request names that kind).
_GRANTEE_TYPES = {"CanonicalUser": ("ID", "id"), "Group": ("URI", "uri"),
                  "AmazonCustomerByEmail": ("EmailAddress", "emailaddress")}
MAX_GRANTS = 100


async def get_bucket_acl(call: S3Call) -> Response:
    meta = await call.storage.read_container_meta(call.account, call.bucket)
    return _policy(call, meta.get(BUCKET_ACL_META))


async def put_bucket_acl(call: S3Call) -> Response:
    acl = await _requested_acl(call)
    await call.storage.update_container_meta(call.account, call.bucket, {BUCKET_ACL_META: acl})
    return Response(b"", 200)


async def get_object_acl(call: S3Call) -> Response:
    obj = await call.storage.head_object(call.account, call.bucket, call.key, requested_version(call))
    call.check_object_acl(obj.acl)
    return _policy(call, obj.acl, version_headers(obj))


async def put_object_acl(call: S3Call) -> Response:
    if call.object_acl_decides:  # not the bucket's owner: the object's ACL must grant WRITE_ACP
        obj = await call.storage.head_object(call.account, call.bucket, call.key, requested_version(call))
        call.check_object_acl(obj.acl)
    acl = await _requested_acl(call)
    info = await call.storage.update_version(call.account, call.bucket, call.key, requested_version(call),
                                             {"acl": acl})
    return Response(b"", 200, version_headers(info))


def _policy(call: S3Call, acl: str | None, headers: list[tuple[str, str]] | None = None) -> Response:
    listed = [grantees.owner_grant_xml(owner_fields(call))]
    listed += [grantees.grant_xml(call.cloud, grant) for grant in grants.stored_grants(acl)]
    return xml.xml_response("AccessControlPolicy",
                            [owner(call), f"<AccessControlList>{''.join(listed)}</AccessControlList>"],
                            headers=headers)


def header_acl(call: S3Call) -> str | None:
    """The ACL the request's headers set (x-amz-acl or x-amz-grant-*), stored form; None if neither."""
    canned = canned_acl(call.headers)
    named = grants.header_grantees(call.headers)
    if canned is not None and named is not None:
        raise S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
    if named is None:
        return canned
    if len(named) > MAX_GRANTS:
        raise S3Error("InvalidArgument", "Too many grants", ArgumentName="x-amz-grant-*")
    return grants.encode(tuple(dict.fromkeys(grantees.resolve(call.cloud, grantee, permission)
                                             for grantee, permission in named)))


async def requested_object_acl(call: S3Call) -> str | None:
    """The ACL an object write sets from its headers (checked against the bucket's settings)."""
    acl = header_acl(call)
    if acl is not None:
        await authorize.check_acl_change(call, grants.stored_grants(acl))
    return acl


async def _requested_acl(call: S3Call) -> str:
    acl = await _read_acl(call)
    await authorize.check_acl_change(call, grants.stored_grants(acl))
    return acl


async def _read_acl(call: S3Call) -> str:
    from_headers = header_acl(call)
    body = await call.read_body()
    if from_headers is not None:
        if body.strip():
            raise S3Error("UnexpectedContent", "This request does not support content")
        return from_headers
    if not body.strip():
        raise S3Error("MissingSecurityHeader", MissingHeaderName="x-amz-acl")
    return grants.encode(_grants_from_document(call, body))


def _grants_from_document(call: S3Call, body: bytes) -> grants.Grants:
    owner_id = call.account.removeprefix("AUTH_")
    result: list[Grant] = []
    for grantee, permission in document_grantees(body):
        grant = grantees.resolve(call.cloud, grantee, permission)
        if grant.kind == "id" and grant.grantee == owner_id and grant.permission == "FULL_CONTROL":
            continue  # the owner's own grant: implicit
        if grant not in result:
            result.append(grant)
    return tuple(result)


def document_grantees(body: bytes) -> list[tuple[Grantee, str]]:
    """The (grantee, permission) pairs of an AccessControlPolicy document; MalformedACLError if it is
    not one."""
    try:
        root = xml.parse(body, "AccessControlPolicy")
    except S3Error:
        raise _malformed_acl() from None
    acl = root.find("AccessControlList")
    if root.find("Owner") is None or acl is None:
        raise _malformed_acl()  # AWS's schema wants both
    found = acl.findall("Grant")
    if len(found) > MAX_GRANTS:
        raise _malformed_acl()
    return [(_document_grantee(node), _permission(node)) for node in found]


def _document_grantee(node: Element) -> Grantee:
    grantee = node.find("Grantee")
    if grantee is None:
        raise _malformed_acl()
    kind = grantee.get(_XSI_TYPE) or grantee.get("type") or ""
    element, request_kind = _GRANTEE_TYPES.get(kind, ("", ""))
    value = xml.child_text(grantee, element) if element else None
    if value is None:
        raise _malformed_acl()
    return Grantee(request_kind, value.strip())


def _permission(node: Element) -> str:
    permission = (xml.child_text(node, "Permission") or "").strip()
    if permission not in grants.PERMISSIONS:
        raise _malformed_acl()
    return permission


def _malformed_acl() -> S3Error:
    """S3 answers a bad ACL document with this code rather than MalformedXML."""
    return S3Error("MalformedACLError", "The XML you provided was not well-formed or did not validate "
                   "against our published schema")
