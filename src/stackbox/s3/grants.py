"""ACL grants: what a bucket's or an object's ACL grants to whom.

Stored ACLs are either a canned ACL's name (what earlier releases stored, still read) or a JSON list
of `[kind, grantee, permission]` where kind is `id` (a canonical user ID: a project id, or a user id)
or `group` (AllUsers, AuthenticatedUsers). The owner's FULL_CONTROL is implicit and never stored:
buckets and objects belong to the project holding the bucket.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from stackbox.auth import AuthContext
from stackbox.s3.errors import S3Error

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


GRANT_HEADERS = {"x-amz-grant-read": "READ", "x-amz-grant-write": "WRITE", "x-amz-grant-read-acp": "READ_ACP",
                 "x-amz-grant-write-acp": "WRITE_ACP", "x-amz-grant-full-control": "FULL_CONTROL"}
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY})
_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*(?:"([^"]*)"|([^,\s]*))\s*(?:,|$)', re.I)


@dataclass(frozen=True, slots=True)
class Grantee:
    """A grantee as a request names it: `id=`, `uri=` or `emailAddress=`."""

    kind: str  # "id", "uri", "emailaddress"
    value: str


def header_grantees(headers: Mapping[str, str]) -> list[tuple[Grantee, str]] | None:
    """The (grantee, permission) pairs of the `x-amz-grant-*` headers; None when none is sent."""
    found: list[tuple[Grantee, str]] = []
    sent = False
    for header, permission in GRANT_HEADERS.items():
        value = headers.get(header)
        if value is None:
            continue
        sent = True
        position = 0
        while position < len(value):
            match = _GRANTEE.match(value, position)
            if match is None or match.end() == position:
                raise S3Error("InvalidArgument", "Argument format not recognized", ArgumentName=header,
                              ArgumentValue=value)
            found.append((Grantee(match.group(1).lower(), match.group(2) if match.group(2) is not None
                                  else match.group(3)), permission))
            position = match.end()
    return found if sent else None
