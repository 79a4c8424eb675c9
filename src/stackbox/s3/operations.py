"""S3 operations by AWS's action names, with what each needs from the caller.

The route table names an operation for every request; the authorizer (`authorize.py`) decides it from
the caller's roles on the bucket's project, the bucket's ACL and policy and its public access block.
The same names are what bucket policies' `Action` elements match.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(Enum):
    """What a role on the bucket's own project must allow (keystone roles: reader reads, member writes)."""

    NONE = "none"  # ListBuckets: any authenticated caller
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Operation:
    action: str
    role: Role
    #: The bucket ACL permission that grants it to others (READ, WRITE, READ_ACP, WRITE_ACP); None:
    #: no ACL grants it (the owner's operations: tags, lifecycle, policy, deleting the bucket...).
    bucket_acl: str | None = None
    #: The object ACL permission that grants it (object reads and the object's ACL), checked by the
    #: handler on the version it reads.
    object_acl: str | None = None
    #: The action's name when the request names a version (`?versionId=`): s3:GetObjectVersion...
    versioned: str | None = None
    #: On a key (its resource is `arn:aws:s3:::bucket/key`) rather than on the bucket.
    on_object: bool = False
    #: Decided key by key by its handler (DeleteObjects), not as a whole.
    per_key: bool = False
    #: May set an ACL from request headers (x-amz-acl, x-amz-grant-*).
    sets_acl: bool = False

    def name_for(self, version_id: str | None) -> str:
        return self.versioned if version_id is not None and self.versioned else self.action


def _bucket(action: str, role: Role, acl: str | None = None) -> Operation:
    return Operation(f"s3:{action}", role, bucket_acl=acl)


def _object(action: str, role: Role, *, bucket_acl: str | None = None, object_acl: str | None = None,
            versioned: str | None = None, sets_acl: bool = False) -> Operation:
    return Operation(f"s3:{action}", role, bucket_acl=bucket_acl, object_acl=object_acl,
                     versioned=f"s3:{versioned}" if versioned else None, on_object=True, sets_acl=sets_acl)


R, W = Role.READ, Role.WRITE

LIST_BUCKETS = Operation("s3:ListAllMyBuckets", Role.NONE)
CREATE_BUCKET = _bucket("CreateBucket", W)
DELETE_BUCKET = _bucket("DeleteBucket", W)
LIST_BUCKET = _bucket("ListBucket", R, "READ")
LIST_BUCKET_VERSIONS = _bucket("ListBucketVersions", R, "READ")
LIST_UPLOADS = _bucket("ListBucketMultipartUploads", R, "READ")
GET_BUCKET_LOCATION = _bucket("GetBucketLocation", R)
GET_BUCKET_ACL = _bucket("GetBucketAcl", R, "READ_ACP")
PUT_BUCKET_ACL = Operation("s3:PutBucketAcl", W, bucket_acl="WRITE_ACP", sets_acl=True)
GET_BUCKET_TAGGING = _bucket("GetBucketTagging", R)
PUT_BUCKET_TAGGING = _bucket("PutBucketTagging", W)
GET_BUCKET_VERSIONING = _bucket("GetBucketVersioning", R)
PUT_BUCKET_VERSIONING = _bucket("PutBucketVersioning", W)
GET_LOCK_CONFIGURATION = _bucket("GetBucketObjectLockConfiguration", R)
PUT_LOCK_CONFIGURATION = _bucket("PutBucketObjectLockConfiguration", W)
GET_LIFECYCLE = _bucket("GetLifecycleConfiguration", R)
PUT_LIFECYCLE = _bucket("PutLifecycleConfiguration", W)
GET_BUCKET_CORS = _bucket("GetBucketCORS", R)
PUT_BUCKET_CORS = _bucket("PutBucketCORS", W)
GET_ENCRYPTION = _bucket("GetEncryptionConfiguration", R)
PUT_ENCRYPTION = _bucket("PutEncryptionConfiguration", W)
GET_BUCKET_POLICY = _bucket("GetBucketPolicy", R)
PUT_BUCKET_POLICY = _bucket("PutBucketPolicy", W)
DELETE_BUCKET_POLICY = _bucket("DeleteBucketPolicy", W)
GET_BUCKET_POLICY_STATUS = _bucket("GetBucketPolicyStatus", R)
GET_PUBLIC_ACCESS_BLOCK = _bucket("GetBucketPublicAccessBlock", R)
PUT_PUBLIC_ACCESS_BLOCK = _bucket("PutBucketPublicAccessBlock", W)
GET_OWNERSHIP_CONTROLS = _bucket("GetBucketOwnershipControls", R)
PUT_OWNERSHIP_CONTROLS = _bucket("PutBucketOwnershipControls", W)
#: Bucket sub-resources stackbox does not implement (S3 answers them with its own errors).
GET_BUCKET_OTHER = _bucket("GetBucketConfiguration", R)
PUT_BUCKET_OTHER = _bucket("PutBucketConfiguration", W)

#: A bucket's READ grant lets its objects be read too (stackbox's rule since its first S3 release, as a
#: Swift `.r:*` read ACL does; in AWS each object needs its own grant).
GET_OBJECT = _object("GetObject", R, bucket_acl="READ", object_acl="READ", versioned="GetObjectVersion")
GET_OBJECT_ATTRIBUTES = _object("GetObjectAttributes", R, bucket_acl="READ", object_acl="READ",
                                versioned="GetObjectVersionAttributes")
GET_OBJECT_ACL = _object("GetObjectAcl", R, object_acl="READ_ACP", versioned="GetObjectVersionAcl")
PUT_OBJECT_ACL = _object("PutObjectAcl", W, object_acl="WRITE_ACP", versioned="PutObjectVersionAcl",
                         sets_acl=True)
GET_OBJECT_TAGGING = _object("GetObjectTagging", R, versioned="GetObjectVersionTagging")
PUT_OBJECT_TAGGING = _object("PutObjectTagging", W, versioned="PutObjectVersionTagging")
DELETE_OBJECT_TAGGING = _object("DeleteObjectTagging", W, versioned="DeleteObjectVersionTagging")
GET_RETENTION = _object("GetObjectRetention", R)
PUT_RETENTION = _object("PutObjectRetention", W)
GET_LEGAL_HOLD = _object("GetObjectLegalHold", R)
PUT_LEGAL_HOLD = _object("PutObjectLegalHold", W)
PUT_OBJECT = _object("PutObject", W, bucket_acl="WRITE", sets_acl=True)
DELETE_OBJECT = _object("DeleteObject", W, bucket_acl="WRITE", versioned="DeleteObjectVersion")
#: DeleteObjects: S3 authorizes it as s3:DeleteObject of each key.
DELETE_OBJECTS = Operation("s3:DeleteObject", W, bucket_acl="WRITE", per_key=True)
LIST_PARTS = _object("ListMultipartUploadParts", R, bucket_acl="READ")
ABORT_UPLOAD = _object("AbortMultipartUpload", W, bucket_acl="WRITE")
#: Not a request of its own: what `x-amz-bypass-governance-retention: true` needs.
BYPASS_GOVERNANCE = _object("BypassGovernanceRetention", W)
GET_OBJECT_OTHER = _object("GetObjectConfiguration", R)
PUT_OBJECT_OTHER = _object("PutObjectConfiguration", W)

#: What a project's admins may always do, whatever the policy denies (so a policy cannot lock them out).
POLICY_OPERATIONS = frozenset({GET_BUCKET_POLICY, PUT_BUCKET_POLICY, DELETE_BUCKET_POLICY})
#: The bucket owner's alone, whatever a policy allows (AWS: "must belong to the bucket owner's account").
OWNER_ONLY = POLICY_OPERATIONS | {GET_BUCKET_POLICY_STATUS, GET_PUBLIC_ACCESS_BLOCK, PUT_PUBLIC_ACCESS_BLOCK,
                                  GET_OWNERSHIP_CONTROLS, PUT_OWNERSHIP_CONTROLS}

#: Action name (lower case) -> whether it acts on objects (`bucket/key` resources) rather than buckets.
ON_OBJECT: dict[str, bool] = {}
for _operation in [value for value in globals().values() if isinstance(value, Operation)]:
    for _name in filter(None, (_operation.action, _operation.versioned)):
        ON_OBJECT.setdefault(_name.lower(), _operation.on_object or _operation.per_key)
