"""The S3 authorizer: one function decides every request, named by its operation, for its caller.

AWS's evaluation logic, with a project standing for an AWS account: the bucket belongs to the project
holding it; an explicit Deny of its bucket policy wins over everything; that project's users act through
their roles (reader reads, member and admin write); any other caller (another project's user, or
anonymous) needs an Allow of the bucket policy or a grant of the bucket's ACL (or, for object reads, of
the object's ACL, which the handler checks on the version it reads). The public access block and
BucketOwnerEnforced ownership take public grants, public policies or ACLs out of the picture.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stackbox.s3 import grants
from stackbox.s3.errors import S3Error
from stackbox.s3.operations import (
    CREATE_BUCKET,
    LIST_BUCKET,
    LIST_BUCKETS,
    OWNER_ONLY,
    POLICY_OPERATIONS,
    Operation,
    Role,
)
from stackbox.s3.policy import Effect, compiled, decide_among, resource_arn
from stackbox.s3.policy_context import RequestKeys
from stackbox.storage.types import NoSuchContainer

if TYPE_CHECKING:
    from stackbox.auth import AuthContext
    from stackbox.s3.call import S3Call
    from stackbox.storage.contract import ObjectStore

#: Container metadata keys: the bucket's ACL (a canned name or grants: see grants.py), its policy (the
#: JSON text as stored), public access block and object ownership setting.
BUCKET_ACL_META = "s3:acl"
POLICY_META = "s3:policy"
PUBLIC_ACCESS_BLOCK_META = "s3:public-access-block"
OWNERSHIP_META = "s3:ownership"
BUCKET_OWNER_ENFORCED = "BucketOwnerEnforced"


class Decision:
    """Where the bucket is, and whether the object's own ACL must still grant the operation.
    (A plain class: one is made per request, and a frozen dataclass costs a microsecond to make.)"""

    __slots__ = ("account", "ignore_public_acls", "meta", "object_acl_decides")

    def __init__(self, account: str, object_acl_decides: bool = False, ignore_public_acls: bool = False,
                 meta: Mapping[str, str] | None = None) -> None:
        self.account = account
        self.object_acl_decides = object_acl_decides
        #: The bucket's public access block ignores public grants (IgnorePublicAcls).
        self.ignore_public_acls = ignore_public_acls
        #: The bucket's metadata as the decision read it (None: no bucket was read).
        self.meta = meta


@dataclass(frozen=True, slots=True)
class AccessBlock:
    """A bucket's public access block (stored as four 0/1 flags in AWS's order)."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    @staticmethod
    def stored(value: str | None) -> AccessBlock:
        if not value or len(value) != 4:
            return NO_BLOCK
        return AccessBlock(*(flag == "1" for flag in value))

    def encode(self) -> str:
        return "".join("1" if flag else "0" for flag in (self.block_public_acls, self.ignore_public_acls,
                                                          self.block_public_policy,
                                                          self.restrict_public_buckets))


NO_BLOCK = AccessBlock()
_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


async def authorize(call: S3Call, operation: Operation) -> None:
    """Decide `call` as `operation` on its bucket and key; AccessDenied (or NoSuchBucket) if refused."""
    call.operation = operation
    own = _own_cached_bucket(call, operation)
    if own is not None:  # the usual request: decided here, with no await unless the bucket has a policy
        call.account, call.authorized_meta = own
        policy_text = own[1].get(POLICY_META)
        if policy_text is not None:
            await _refuse_if_denied(call, operation, own[0], policy_text, call.bucket, call.key, None)
    else:
        decision = await decide(call, operation, call.bucket, call.key, tenant=call.tenant)
        call.account, call.object_acl_decides = decision.account, decision.object_acl_decides
        call.ignore_public_acls = decision.ignore_public_acls
        call.authorized_meta = decision.meta
    expected = call.headers.get("x-amz-expected-bucket-owner")
    if expected is not None and f"AUTH_{expected}" != call.account:
        raise S3Error("AccessDenied")


async def check_acl_change(call: S3Call, new: grants.Grants) -> None:
    """Setting these grants (beyond the owner's) on the request's bucket or object: refused when the
    bucket's ownership controls turn ACLs off or its public access block blocks public ACLs."""
    meta = await call.storage.container_meta(call.account, call.bucket)
    if new and meta.get(OWNERSHIP_META) == BUCKET_OWNER_ENFORCED:
        raise S3Error("AccessControlListNotSupported")
    if grants.is_public(new) and AccessBlock.stored(meta.get(PUBLIC_ACCESS_BLOCK_META)).block_public_acls:
        raise S3Error("AccessDenied")


async def decide(call: S3Call, operation: Operation, bucket: str, key: str = "", *,
                 version_id: str | None = None, tenant: str | None = None) -> Decision:
    """The decision on `operation` by this caller on `bucket` and `key` (a copy source's too), with AWS's
    logic: an explicit Deny of the bucket policy wins; the bucket's project acts through its roles;
    anyone else needs an Allow of the policy or a grant of the ACL (the object's, for object reads)."""
    context = call.context
    if operation is LIST_BUCKETS or operation is CREATE_BUCKET:
        account = context.account if context is not None else None
        if account is None or not _role_allows(context, operation.role) or (
                tenant is not None and f"AUTH_{tenant}" != account):
            raise S3Error("AccessDenied")
        return Decision(account)
    account, meta = await _bucket_and_meta(call.storage, context, bucket, tenant)
    owner_side = context is not None and context.account == account
    if owner_side and _role_allows(context, operation.role):
        if POLICY_META in meta:
            await _refuse_if_denied(call, operation, account, meta[POLICY_META], bucket, key, version_id)
        return Decision(account, meta=meta)
    if operation.per_key and not key and POLICY_META in meta:
        return Decision(account, meta=meta)  # DeleteObjects: the policy decides each key on its own
    if not owner_side and operation in OWNER_ONLY:
        raise S3Error("AccessDenied")
    block = AccessBlock.stored(meta.get(PUBLIC_ACCESS_BLOCK_META))
    verdict = await _policy_verdict(call, operation, meta, account, bucket, key, version_id, owner_side,
                                    block)
    if verdict is Effect.DENY:
        if not (owner_side and operation in POLICY_OPERATIONS and context is not None and context.is_admin):
            raise S3Error("AccessDenied")
        verdict = None  # the project's admins can always mend the policy (AWS's root-user rule)
    if (owner_side and _role_allows(context, operation.role)) or verdict is Effect.ALLOW:
        return Decision(account, meta=meta)
    if meta.get(OWNERSHIP_META) == BUCKET_OWNER_ENFORCED:
        raise S3Error("AccessDenied")  # ACLs are off
    acl = grants.stored_grants(meta.get(BUCKET_ACL_META))
    ignore_public = block.ignore_public_acls
    if operation.bucket_acl is not None and grants.allows(acl, context, operation.bucket_acl,
                                                          ignore_public=ignore_public):
        return Decision(account, meta=meta)
    if operation.object_acl is not None:
        return Decision(account, object_acl_decides=True, ignore_public_acls=ignore_public, meta=meta)
    raise S3Error("AccessDenied")


def _own_cached_bucket(call: S3Call, operation: Operation) -> tuple[str, Mapping[str, str]] | None:
    """(account, metadata) of the caller's own project's bucket the request names, when this worker has
    it cached and the caller's roles allow the operation: a request only the policy's explicit Deny can
    still refuse. None for anything else (which `decide` decides)."""
    context = call.context
    if context is None or call.tenant is not None or operation is LIST_BUCKETS or operation is CREATE_BUCKET:
        return None
    account = context.account
    if account is None or not _role_allows(context, operation.role):
        return None
    meta = call.storage.cached_container_meta(account, call.bucket)
    return None if meta is None else (account, meta)


async def _refuse_if_denied(call: S3Call, operation: Operation, account: str, policy_text: str, bucket: str,
                            key: str, version_id: str | None) -> None:
    """A request of the bucket's own project, which its roles allow: only an explicit Deny of the policy
    refuses it (not for the project's admins on the policy itself: they can always mend it, as AWS's
    root user can)."""
    if operation.per_key and not key:
        return  # DeleteObjects: the policy decides each key on its own
    verdict = await _evaluate(call, operation, policy_text, account, bucket, key, version_id,
                              denies_only=True)
    if verdict is Effect.DENY and not (operation in POLICY_OPERATIONS and call.context is not None
                                       and call.context.is_admin):
        raise S3Error("AccessDenied")


async def _policy_verdict(call: S3Call, operation: Operation, meta: Mapping[str, str], account: str,
                          bucket: str, key: str, version_id: str | None, owner_side: bool,
                          block: AccessBlock) -> Effect | None:
    """The policy's verdict for a caller the project's roles do not let in (None: no opinion)."""
    text = meta.get(POLICY_META)
    if text is None:
        return None
    verdict = await _evaluate(call, operation, text, account, bucket, key, version_id, denies_only=False)
    if (verdict is Effect.ALLOW and not owner_side and block.restrict_public_buckets
            and compiled(text, bucket).public):
        return None  # RestrictPublicBuckets: a public policy lets no one outside the project in
    return verdict


async def _evaluate(call: S3Call, operation: Operation, text: str, account: str, bucket: str, key: str,
                    version_id: str | None, *, denies_only: bool) -> Effect | None:
    """The bucket policy `text` on this request: its Deny statements only, with `denies_only`."""
    policy = compiled(text, bucket)
    if version_id is None and operation.versioned:
        version_id = call.query.get("versionId")
    statements = policy.statements_for(operation.name_for(version_id))
    if not statements.denies and (denies_only or not statements.allows):
        return None
    resource = resource_arn(bucket, key) if operation.on_object else resource_arn(bucket)
    lookup = _no_condition_keys
    if statements.conditional:
        keys = RequestKeys(call, account, bucket, key)
        if policy.reads_existing_tags:
            await keys.load_existing_tags()
        lookup = keys.lookup
    return decide_among(statements, resource, call.context, lookup, denies_only=denies_only)


def _no_condition_keys(name: str) -> Sequence[str] | None:
    """The condition keys of statements without conditions (never asked)."""
    return None


async def permits(call: S3Call, operation: Operation) -> bool:
    """Whether this caller may also do `operation` on the request's bucket (no error raised)."""
    try:
        decision = await decide(call, operation, call.bucket, call.key, tenant=call.tenant)
    except (S3Error, NoSuchContainer):
        return False
    return not decision.object_acl_decides


async def may_list(call: S3Call, bucket: str, tenant: str | None) -> bool:
    """Whether this caller may list `bucket`: only such a caller learns that a key of it is not there
    (S3 answers AccessDenied, not NoSuchKey, to anyone else)."""
    try:
        await decide(call, LIST_BUCKET, bucket, tenant=tenant)
    except (S3Error, NoSuchContainer):
        return False
    return True


def check_object_acl(call: S3Call, stored_acl: str | None, operation: Operation | None, *,
                     ignore_public: bool = False) -> None:
    """For a request the bucket left to the object's ACL: that ACL must grant the operation."""
    permission = operation.object_acl if operation is not None else None
    if permission is None or not grants.allows(grants.stored_grants(stored_acl), call.context, permission,
                                               ignore_public=ignore_public):
        raise S3Error("AccessDenied")


def _role_allows(context: AuthContext | None, role: Role) -> bool:
    if context is None:
        return False
    if role is _READ:
        return context.can_read
    if role is _WRITE:
        return context.can_write
    return True


_READ, _WRITE = Role.READ, Role.WRITE  # (an Enum member's lookup on its class costs more than a global's)


def split_tenant(name: str) -> tuple[str | None, str]:
    """`<project_id>:<bucket>` (another project's bucket, named as Ceph RGW's tenants name them) as
    (project id, bucket); (None, name) for a plain name."""
    tenant, separator, bucket = name.rpartition(":")
    if not separator:
        return None, name
    if not _TENANT.match(tenant):
        raise S3Error("InvalidBucketName", BucketName=name)
    return tenant, bucket


async def _bucket_and_meta(storage: ObjectStore, context: AuthContext | None, bucket: str,
                           tenant: str | None) -> tuple[str, Mapping[str, str]]:
    """The account holding the bucket a request names (`tenant`'s, else as `bucket_account` says) and
    the bucket's metadata; NoSuchContainer if that account holds no such bucket."""
    own = context.account if context is not None else None
    if tenant is None and own is not None:
        try:  # the usual case, one lookup: the caller's own bucket
            return own, await storage.container_meta(own, bucket)
        except NoSuchContainer:
            pass
    account = f"AUTH_{tenant}" if tenant is not None else await bucket_account(storage, context, bucket)
    return account, await storage.container_meta(account, bucket)


async def bucket_account(storage: ObjectStore, context: AuthContext | None, bucket: str) -> str:
    """The account a request's bucket name means: the caller's own project's bucket of that name if it
    has one, else the name's S3 owner (its only holder, or its first creator); NoSuchBucket for an
    anonymous caller naming no bucket, as S3 answers it (a name no one holds reveals nothing)."""
    own = context.account if context is not None else None
    if own is not None:
        try:
            await storage.container_meta(own, bucket)
            return own
        except NoSuchContainer:
            pass
    holder = await s3_owner(storage, bucket)
    if holder is not None:
        return holder
    if own is None:
        raise S3Error("NoSuchBucket", BucketName=bucket)
    return own


async def s3_owner(storage: ObjectStore, bucket: str) -> str | None:
    """The account holding `bucket` in S3's one namespace: its only holder, or the first to create it
    when Swift (whose names are per account) or an older data dir made more; None if no account
    holds it or the first two creations tie."""
    accounts = await storage.container_accounts(bucket)
    if len(accounts) < 2:
        return accounts[0] if accounts else None
    created = []
    for account in accounts:
        try:
            created.append(((await storage.get_container(account, bucket)).created, account))
        except NoSuchContainer:  # deleted meanwhile
            continue
    created.sort()
    if not created or (len(created) > 1 and created[0][0] == created[1][0]):
        return None
    return created[0][1]
