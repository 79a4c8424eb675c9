"""ACL grants: what a bucket's or an object's ACL grants to whom.

Stored ACLs are either a canned ACL's name (what earlier releases stored, still read) or a JSON list
of `[kind, grantee, permission]` where kind is `id` (a canonical user ID: a project id, or a user id)
or `group` (AllUsers, AuthenticatedUsers). The owner's FULL_CONTROL is implicit and never stored:
buckets and objects belong to the project holding the bucket.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from stackbox.auth import AuthContext

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
PUBLIC_GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS})
PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP")


@dataclass(frozen=True, slots=True)
class Grant:
    kind: str  # "id" or "group"
    grantee: str
    permission: str

    @property
    def public(self) -> bool:
        return self.kind == "group" and self.grantee in PUBLIC_GROUPS


Grants = tuple[Grant, ...]

#: canned ACL -> the grants it adds to the owner's FULL_CONTROL. The bucket-owner-* ACLs add nothing:
#: an object's owner is the bucket's owner here.
CANNED: dict[str, Grants] = {
    "private": (),
    "public-read": (Grant("group", ALL_USERS, "READ"),),
    "public-read-write": (Grant("group", ALL_USERS, "READ"), Grant("group", ALL_USERS, "WRITE")),
    "authenticated-read": (Grant("group", AUTHENTICATED_USERS, "READ"),),
    "bucket-owner-read": (),
    "bucket-owner-full-control": (),
}


@functools.lru_cache(maxsize=1024)
def stored_grants(value: str | None) -> Grants:
    """The grants of a stored ACL (cached: the same stored text is read on every request)."""
    if not value:
        return ()
    canned = CANNED.get(value)
    if canned is not None:
        return canned
    try:
        return tuple(Grant(str(kind), str(grantee), str(permission))
                     for kind, grantee, permission in json.loads(value))
    except (ValueError, TypeError):
        return ()  # unreadable: grants nothing beyond the owner's


def encode(grants: Grants) -> str:
    """The stored form of `grants`: a canned name when they are exactly one, else JSON."""
    for name, canned in CANNED.items():
        if set(canned) == set(grants) and len(canned) == len(grants):
            return name
    return json.dumps([[grant.kind, grant.grantee, grant.permission] for grant in grants])


def allows(grants: Grants, context: AuthContext | None, permission: str, *,
           ignore_public: bool = False) -> bool:
    """Whether `grants` give `permission` (or FULL_CONTROL) to this caller (None: anonymous)."""
    for grant in grants:
        if grant.permission != permission and grant.permission != "FULL_CONTROL":
            continue
        if grant.kind == "group":
            if ignore_public:
                continue
            if grant.grantee == ALL_USERS or (grant.grantee == AUTHENTICATED_USERS and context is not None):
                return True
        elif context is not None and grant.grantee in (context.project_id, context.user_id):
            return True
    return False


def is_public(grants: Grants) -> bool:
    return any(grant.public for grant in grants)
