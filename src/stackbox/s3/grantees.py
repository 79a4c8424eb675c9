"""ACL grantees and the identity service: canonical user IDs, e-mail addresses and display names.

The canonical user ID of a project is its id (what ListBuckets' and listings' `<Owner><ID>` show); a
user's is the user's id. `emailAddress=` names the identity service's user with that e-mail; the grant
is stored (and shown) as that user's canonical ID, as S3 does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackbox.s3 import grants, xml
from stackbox.s3.errors import S3Error
from stackbox.s3.grants import Grant, Grantee

if TYPE_CHECKING:
    from stackbox.app import Cloud

_XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def resolve(cloud: Cloud, grantee: Grantee, permission: str) -> Grant:
    """The grant a request asks for; InvalidArgument / UnresolvableGrantByEmailAddress if it names no one."""
    identity = cloud.identity
    if grantee.kind == "uri":
        if grantee.value not in grants.GROUPS:
            raise S3Error("InvalidArgument", "Invalid group uri", ArgumentName="uri",
                          ArgumentValue=grantee.value)
        return Grant("group", grantee.value, permission)
    if grantee.kind == "id":
        if identity.cached_row("project", grantee.value) is None and identity.cached_row(
                "user", grantee.value) is None:
            raise S3Error("InvalidArgument", "Invalid id", ArgumentName="id", ArgumentValue=grantee.value)
        return Grant("id", grantee.value, permission)
    users = identity.store.select("user", {"email": grantee.value}) if grantee.value else []
    if len(users) != 1:
        raise S3Error("UnresolvableGrantByEmailAddress", EmailAddress=grantee.value)
    return Grant("id", str(users[0]["id"]), permission)


def display_name(cloud: Cloud, canonical_id: str) -> str:
    """A project's or user's name (S3's DisplayName); the id itself if it names neither any more."""
    identity = cloud.identity
    row = identity.cached_row("project", canonical_id) or identity.cached_row("user", canonical_id)
    return str(row["name"]) if row is not None else canonical_id


def grant_xml(cloud: Cloud, grant: Grant) -> str:
    """One `<Grant>` with every field AWS returns for its grantee type."""
    if grant.kind == "group":
        grantee = f'<Grantee {_XSI} xsi:type="Group">{xml.element("URI", grant.grantee)}</Grantee>'
    else:
        name = display_name(cloud, grant.grantee)
        fields = xml.element("ID", grant.grantee) + xml.element("DisplayName", name)
        grantee = f'<Grantee {_XSI} xsi:type="CanonicalUser">{fields}</Grantee>'
    return f"<Grant>{grantee}{xml.element('Permission', grant.permission)}</Grant>"


def owner_grant_xml(owner_fields: str) -> str:
    return (f'<Grant><Grantee {_XSI} xsi:type="CanonicalUser">{owner_fields}</Grantee>'
            "<Permission>FULL_CONTROL</Permission></Grant>")
