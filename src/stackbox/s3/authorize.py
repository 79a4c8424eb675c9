"""The S3 authorizer: one function decides every request, named by its operation, for its caller.

AWS's evaluation logic, with a project standing for an AWS account: the bucket belongs to the project
holding it; that project's users act through their roles (reader reads, member and admin write); any
other caller (another project's user, or anonymous) needs a grant of the bucket's ACL (or, for object
reads, of the object's ACL, which the handler checks on the version it reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackbox.s3 import grants
from stackbox.s3.errors import S3Error
from stackbox.s3.operations import CREATE_BUCKET, LIST_BUCKETS, Operation, Role
from stackbox.storage.types import NoSuchContainer

if TYPE_CHECKING:
    from stackbox.auth import AuthContext
    from stackbox.s3.call import S3Call
    from stackbox.storage.contract import ObjectStore

#: Container metadata key holding a bucket's ACL (a canned name or grants: see grants.py).
BUCKET_ACL_META = "s3:acl"


@dataclass(frozen=True, slots=True)
class Decision:
    """Where the bucket is, and whether the object's own ACL must still grant the operation."""

    account: str
    object_acl_decides: bool = False


def authorize(call: S3Call, operation: Operation) -> None:
    """Decide `call` as `operation` on its bucket and key; AccessDenied (or NoSuchBucket) if refused."""
    call.operation = operation
    decision = decide(call, operation, call.bucket, call.key)
    call.account, call.object_acl_decides = decision.account, decision.object_acl_decides


def decide(call: S3Call, operation: Operation, bucket: str, key: str = "") -> Decision:
    """The decision on `operation` by this caller on `bucket` and `key` (a copy source's too)."""
    context = call.context
    if operation is LIST_BUCKETS or operation is CREATE_BUCKET:
        account = context.account if context is not None else None
        if account is None or not _role_allows(context, operation.role):
            raise S3Error("AccessDenied")
        return Decision(account)
    account = bucket_account(call.storage, context, bucket)
    meta = call.storage.container_meta(account, bucket)
    if context is not None and context.account == account and _role_allows(context, operation.role):
        return Decision(account)
    acl = grants.stored_grants(meta.get(BUCKET_ACL_META))
    if operation.bucket_acl is not None and grants.allows(acl, context, operation.bucket_acl):
        return Decision(account)
    if operation.object_acl is not None:
        return Decision(account, object_acl_decides=True)
    raise S3Error("AccessDenied")


def permits(call: S3Call, operation: Operation) -> bool:
    """Whether this caller may also do `operation` on the request's bucket (no error raised)."""
    try:
        decision = decide(call, operation, call.bucket, call.key)
    except (S3Error, NoSuchContainer):
        return False
    return not decision.object_acl_decides


def check_object_acl(call: S3Call, stored_acl: str | None, operation: Operation | None) -> None:
    """For a request the bucket left to the object's ACL: that ACL must grant the operation."""
    permission = operation.object_acl if operation is not None else None
    if permission is None or not grants.allows(grants.stored_grants(stored_acl), call.context, permission):
        raise S3Error("AccessDenied")


def _role_allows(context: AuthContext | None, role: Role) -> bool:
    if context is None:
        return False
    if role is Role.READ:
        return context.can_read
    if role is Role.WRITE:
        return context.can_write
    return True


def bucket_account(storage: ObjectStore, context: AuthContext | None, bucket: str) -> str:
    """The account a request's bucket name means: the caller's own project's bucket of that name if it
    has one, else the name's S3 owner (its only holder, or its first creator); NoSuchBucket for an
    anonymous caller naming no bucket, as S3 answers it (a name no one holds reveals nothing)."""
    own = context.account if context is not None else None
    if own is not None:
        try:
            storage.container_meta(own, bucket)
            return own
        except NoSuchContainer:
            pass
    holder = s3_owner(storage, bucket)
    if holder is not None:
        return holder
    if own is None:
        raise S3Error("NoSuchBucket", BucketName=bucket)
    return own


def s3_owner(storage: ObjectStore, bucket: str) -> str | None:
    """The account holding `bucket` in S3's one namespace: its only holder, or the first to create it
    when Swift (whose names are per account) or an older data dir made more; None if no account
    holds it or the first two creations tie."""
    accounts = storage.container_accounts(bucket)
    if len(accounts) < 2:
        return accounts[0] if accounts else None
    created = []
    for account in accounts:
        try:
            created.append((storage.get_container(account, bucket).created, account))
        except NoSuchContainer:  # deleted meanwhile
            continue
    created.sort()
    if not created or (len(created) > 1 and created[0][0] == created[1][0]):
        return None
    return created[0][1]
