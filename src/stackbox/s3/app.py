"""The S3 front end: addressing, authentication, authorization, dispatch, and error responses.

Every request is authenticated against `cloud.identity.ec2_secret` (an in-process cache that every
worker invalidates at once when a credential is deleted). The route table names each request's
operation (operations.py) and one authorizer (authorize.py) decides it before the handler runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from stackbox.http import (
    ASGIApp,
    BodyTooLarge,
    ClientDisconnected,
    Receive,
    Request,
    RequestTimeout,
    Response,
    Scope,
    Send,
)
from stackbox.s3 import (
    acl,
    bucket,
    bucket_policy,
    copy,
    cors,
    delete,
    get,
    lifecycle,
    multipart,
    put,
    sse,
    tagging,
    versioning,
)
from stackbox.s3 import bucket_encryption as encryption
from stackbox.s3 import list as listing
from stackbox.s3 import object_lock as locking
from stackbox.s3 import operations as ops
from stackbox.s3 import post_object as posting
from stackbox.s3.authorize import authorize, may_list, split_tenant
from stackbox.s3.call import S3Call
from stackbox.s3.errors import S3Error, request_id_source
from stackbox.s3.signature import authenticate
from stackbox.s3.signature.secrets import with_secret
from stackbox.storage import types as storage

if TYPE_CHECKING:
    from stackbox.app import Cloud

log = logging.getLogger(__name__)

Handler = Callable[[S3Call], Awaitable[Response]]
Route = tuple[Handler, ops.Operation]

#: Bucket sub-resources we do not implement: S3 answers these with its own errors or empty documents.
_UNSUPPORTED_BUCKET = ("website", "replication", "notification", "logging",
                       "accelerate", "requestPayment", "inventory", "metrics",
                       "analytics", "intelligent-tiering")
_UNSUPPORTED_OBJECT = ("torrent", "restore", "select")


def create_s3_app(cloud: Cloud) -> ASGIApp:
    domain_suffix = "." + cloud.settings.s3_domain.lower()
    new_request_id = request_id_source()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        bucket_name, key, virtual = _address(request, domain_suffix)
        call = S3Call(cloud, request, None, bucket_name, key)
        request_id = new_request_id()
        try:
            response = await _handle(call, virtual)
        except S3Error as error:
            response = error.response(call.resource, request_id, head=request.method == "HEAD")
        except BaseException as error:  # every failure must become an S3 error
            response = (await _unexpected(error, call)).response(call.resource, request_id,
                                                                 head=request.method == "HEAD")
        if "origin" in request.headers and request.method != "OPTIONS":
            response.headers += await _cors_headers(call, bucket_name)
        # SDKs report both ids in their errors and logs (boto3's ResponseMetadata, awscli --debug).
        response.headers += (("x-amz-request-id", request_id), ("x-amz-id-2", request_id))
        if call.body_withheld:
            response.headers.append(("connection", "close"))
        await response(send)

    return app


async def _cors_headers(call: S3Call, bucket_name: str) -> list[tuple[str, str]]:
    """The bucket's CORS headers for a request from a browser; none if they cannot be read."""
    try:
        return await cors.response_headers(call.storage, call.request, bucket_name, call.account)
    except Exception:  # the answer itself must still go out
        log.exception("S3 CORS headers for %s failed", call.resource)
        return []


def _address(request: Request, domain_suffix: str) -> tuple[str, str, bool]:
    """(bucket, key, virtual-hosted?) from the Host header and the path."""
    host = request.host.rsplit(":", 1)[0].lower() if "]" not in request.host else ""
    path = request.path[1:] if request.path.startswith("/") else request.path
    if host.endswith(domain_suffix) and len(host) > len(domain_suffix):
        return host[: -len(domain_suffix)], path, True
    bucket_name, _, key = path.partition("/")
    return bucket_name, key, False


async def _handle(call: S3Call, virtual: bool) -> Response:
    if not call.request.path_is_clean:
        raise S3Error("InvalidURI")
    if call.request.method == "OPTIONS":
        return await cors.preflight(call)
    cloud = call.cloud
    virtual_bucket = call.bucket if virtual else None
    call.auth = await with_secret(cloud.identity, lambda lookup: authenticate(
        call.request, lookup, region=cloud.settings.s3_region, virtual_bucket=virtual_bucket))
    if ":" in call.bucket:
        call.tenant, call.bucket = split_tenant(call.bucket)
    if call.auth is None and posting.is_post_object(call):
        bucket.check_name(call.bucket)
        return await _in_bucket(posting.post_object, call)
    handler, operation = _route(call)
    return await _in_bucket(handler, call, operation)


async def _in_bucket(handler: Handler, call: S3Call, operation: ops.Operation | None = None) -> Response:
    """Run `handler` (authorized as `operation` first, unless it authorizes itself)."""
    try:
        if operation is not None:
            await authorize(call, operation)
        return await handler(call)
    except storage.NoSuchContainer:
        raise await _missing_bucket(call) from None


async def _put_object_data(call: S3Call) -> Response:
    """PUT on a key: an upload or a copy, of a whole object or of one multipart part."""
    copying = "x-amz-copy-source" in call.headers
    if "uploadId" in call.query and "partNumber" in call.query:
        return await (copy.upload_part_copy if copying else multipart.upload_part)(call)
    return await (copy.copy_object if copying else put.put_object)(call)


#: method -> [(sub-resource that selects the route, or None for the default, route)], first match wins.
RouteTable = dict[str, list[tuple[str | None, Route]]]

_BUCKET_ROUTES: RouteTable = {
    "GET": [("location", (bucket.get_location, ops.GET_BUCKET_LOCATION)),
            ("acl", (acl.get_bucket_acl, ops.GET_BUCKET_ACL)),
            ("tagging", (tagging.get_bucket_tagging, ops.GET_BUCKET_TAGGING)),
            ("versioning", (versioning.get_bucket_versioning, ops.GET_BUCKET_VERSIONING)),
            ("object-lock", (locking.get_object_lock_configuration, ops.GET_LOCK_CONFIGURATION)),
            ("lifecycle", (lifecycle.get_bucket_lifecycle, ops.GET_LIFECYCLE)),
            ("cors", (cors.get_bucket_cors, ops.GET_BUCKET_CORS)),
            ("policyStatus", (bucket_policy.get_bucket_policy_status, ops.GET_BUCKET_POLICY_STATUS)),
            ("policy", (bucket_policy.get_bucket_policy, ops.GET_BUCKET_POLICY)),
            ("publicAccessBlock", (bucket_policy.get_public_access_block, ops.GET_PUBLIC_ACCESS_BLOCK)),
            ("ownershipControls", (bucket_policy.get_ownership_controls, ops.GET_OWNERSHIP_CONTROLS)),
            ("encryption", (encryption.get_bucket_encryption, ops.GET_ENCRYPTION)),
            ("versions", (versioning.list_object_versions, ops.LIST_BUCKET_VERSIONS)),
            ("uploads", (listing.list_uploads, ops.LIST_UPLOADS)),
            (None, (listing.list_objects, ops.LIST_BUCKET))],
    "HEAD": [(None, (bucket.head_bucket, ops.LIST_BUCKET))],
    "PUT": [("acl", (acl.put_bucket_acl, ops.PUT_BUCKET_ACL)),
            ("tagging", (tagging.put_bucket_tagging, ops.PUT_BUCKET_TAGGING)),
            ("versioning", (versioning.put_bucket_versioning, ops.PUT_BUCKET_VERSIONING)),
            ("object-lock", (locking.put_object_lock_configuration, ops.PUT_LOCK_CONFIGURATION)),
            ("lifecycle", (lifecycle.put_bucket_lifecycle, ops.PUT_LIFECYCLE)),
            ("cors", (cors.put_bucket_cors, ops.PUT_BUCKET_CORS)),
            ("policy", (bucket_policy.put_bucket_policy, ops.PUT_BUCKET_POLICY)),
            ("publicAccessBlock", (bucket_policy.put_public_access_block, ops.PUT_PUBLIC_ACCESS_BLOCK)),
            ("ownershipControls", (bucket_policy.put_ownership_controls, ops.PUT_OWNERSHIP_CONTROLS)),
            ("encryption", (encryption.put_bucket_encryption, ops.PUT_ENCRYPTION)),
            (None, (bucket.create_bucket, ops.CREATE_BUCKET))],
    "DELETE": [("tagging", (tagging.delete_bucket_tagging, ops.PUT_BUCKET_TAGGING)),
               ("lifecycle", (lifecycle.delete_bucket_lifecycle, ops.PUT_LIFECYCLE)),
               ("cors", (cors.delete_bucket_cors, ops.PUT_BUCKET_CORS)),
               ("policy", (bucket_policy.delete_bucket_policy, ops.DELETE_BUCKET_POLICY)),
               ("publicAccessBlock", (bucket_policy.delete_public_access_block, ops.PUT_PUBLIC_ACCESS_BLOCK)),
               ("ownershipControls", (bucket_policy.delete_ownership_controls, ops.PUT_OWNERSHIP_CONTROLS)),
               ("encryption", (encryption.delete_bucket_encryption, ops.PUT_ENCRYPTION)),
               (None, (bucket.delete_bucket, ops.DELETE_BUCKET))],
    "POST": [("delete", (delete.delete_objects, ops.DELETE_OBJECTS))],
}

_OBJECT_ROUTES: RouteTable = {
    "GET": [("uploadId", (multipart.list_parts, ops.LIST_PARTS)),
            ("acl", (acl.get_object_acl, ops.GET_OBJECT_ACL)),
            ("tagging", (tagging.get_object_tagging, ops.GET_OBJECT_TAGGING)),
            ("retention", (locking.get_object_retention, ops.GET_RETENTION)),
            ("legal-hold", (locking.get_object_legal_hold, ops.GET_LEGAL_HOLD)),
            ("attributes", (get.get_object_attributes, ops.GET_OBJECT_ATTRIBUTES)),
            (None, (get.get_object, ops.GET_OBJECT))],
    "HEAD": [(None, (get.head_object, ops.GET_OBJECT))],
    "PUT": [("acl", (acl.put_object_acl, ops.PUT_OBJECT_ACL)),
            ("tagging", (tagging.put_object_tagging, ops.PUT_OBJECT_TAGGING)),
            ("retention", (locking.put_object_retention, ops.PUT_RETENTION)),
            ("legal-hold", (locking.put_object_legal_hold, ops.PUT_LEGAL_HOLD)),
            (None, (_put_object_data, ops.PUT_OBJECT))],
    "DELETE": [("uploadId", (multipart.abort_upload, ops.ABORT_UPLOAD)),
               ("tagging", (tagging.delete_object_tagging, ops.DELETE_OBJECT_TAGGING)),
               (None, (delete.delete_object, ops.DELETE_OBJECT))],
    "POST": [("uploads", (multipart.create_upload, ops.PUT_OBJECT)),
             ("uploadId", (multipart.complete_upload, ops.PUT_OBJECT))],
}


def _route(call: S3Call) -> Route:
    method = call.request.method
    if not call.bucket:
        if method == "GET":
            return listing.list_buckets, ops.LIST_BUCKETS
        raise S3Error("MethodNotAllowed", Method=method, ResourceType="SERVICE")
    bucket.check_name(call.bucket)
    if call.key:
        return _pick(_OBJECT_ROUTES, _UNSUPPORTED_OBJECT, call, "OBJECT")
    return _pick(_BUCKET_ROUTES, _UNSUPPORTED_BUCKET, call, "BUCKET")


def _pick(routes: RouteTable, unsupported: tuple[str, ...], call: S3Call, resource_type: str) -> Route:
    method = call.request.method
    query = call.query
    if query and any(name in query for name in unsupported):
        reads = method in ("GET", "HEAD")
        if call.key:
            return bucket.unsupported, ops.GET_OBJECT_OTHER if reads else ops.PUT_OBJECT_OTHER
        return bucket.unsupported, ops.GET_BUCKET_OTHER if reads else ops.PUT_BUCKET_OTHER
    for sub_resource, route in routes.get(method, ()):
        if sub_resource is None or sub_resource in query:
            return route
    raise S3Error("MethodNotAllowed", Method=method, ResourceType=resource_type)


async def _missing_bucket(call: S3Call) -> S3Error:
    """A bucket name held by another project is not the caller's to see (nor to learn it exists)."""
    if any(account != call.account for account in await call.storage.container_accounts(call.bucket)):
        return S3Error("AccessDenied")
    return S3Error("NoSuchBucket", BucketName=call.bucket)


_STORAGE_ERRORS: dict[type[storage.StorageError], str] = {
    storage.NoSuchObject: "NoSuchKey",
    storage.ContainerNotEmpty: "BucketNotEmpty",
    storage.KeyTooLong: "KeyTooLongError",
    storage.PreconditionFailed: "PreconditionFailed",
    storage.ConditionalConflict: "ConditionalRequestConflict",
    storage.BadDigest: "BadDigest",
    storage.ChecksumMismatch: "BadDigest",
    storage.IncompleteBody: "IncompleteBody",
    storage.EntityTooLarge: "EntityTooLarge",
    storage.InvalidRange: "InvalidRange",
    storage.NoSuchUpload: "NoSuchUpload",
    storage.InvalidPart: "InvalidPart",
    storage.InvalidPartOrder: "InvalidPartOrder",
    storage.EntityTooSmall: "EntityTooSmall",
    storage.UnsupportedChecksum: "InvalidRequest",
    storage.InsufficientStorage: "InsufficientCapacity",
}


_WRITE_CONDITIONS = {"if-none-match": "If-None-Match", "if-match": "If-Match",
                     "x-amz-if-match-size": "x-amz-if-match-size",
                     "x-amz-if-match-last-modified-time": "x-amz-if-match-last-modified-time"}


def _failed_condition(call: S3Call) -> str:
    return next((name for header, name in _WRITE_CONDITIONS.items() if header in call.headers), "If-Match")


async def _unexpected(error: BaseException, call: S3Call) -> S3Error:
    """An S3 error for whatever escaped a handler; only real bugs become InternalError."""
    if isinstance(error, storage.NoSuchContainer):
        return await _missing_bucket(call)
    if isinstance(error, (storage.NoSuchObject, storage.NoSuchVersion)) and (
            call.object_acl_decides or not await may_list(call, call.bucket, call.tenant)):
        # Only a caller who may list the bucket learns that a key is not there (S3's rule).
        return S3Error("AccessDenied")
    versioning_error = (versioning.storage_error(error, call) or locking.storage_error(error, call)
                        or sse.storage_error(error, call))
    if versioning_error is not None:
        return versioning_error
    if isinstance(error, storage.QuotaExceeded):  # a Swift quota on the bucket, as s3api answers it
        return S3Error("EntityTooLarge", "Upload exceeds quota.")
    code = _STORAGE_ERRORS.get(type(error)) if isinstance(error, storage.StorageError) else None
    if code == "NoSuchKey":
        return S3Error(code, Key=call.key)
    if code == "PreconditionFailed":
        return S3Error(code, Condition=_failed_condition(call))
    if code == "NoSuchUpload":
        return S3Error(code, UploadId=call.query.get("uploadId", ""))
    if code is not None:
        return S3Error(code)
    if isinstance(error, RequestTimeout):
        return S3Error("RequestTimeout")
    if isinstance(error, ClientDisconnected):
        return S3Error("IncompleteBody")
    if isinstance(error, BodyTooLarge):
        return S3Error("MalformedXML", "The XML you provided was larger than the maximum allowed size.")
    if not isinstance(error, Exception):
        raise error
    log.exception("S3 %s %s failed", call.request.method, call.resource)
    return S3Error("InternalError")
