"""keystoneauth's finer rules, as the reference Swift 2.38 applies them (checked there by hand and in
tests/compat): ACL entries by name match only default-domain users and projects, an X-Service-Token
must carry the `service` role or the request is anonymous, a token that does not validate leaves an
anonymous caller, and cross-account copies need read on the source and write on the destination
through ACLs; each with the attacker's attempt refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloud import RunningCloud
from swift.conftest import MakeUser, User
from swift.helpers import Swift, unique

UserSwift = Callable[..., Swift]


@dataclass(frozen=True)
class Named:
    user: User
    swift: Swift


def _in_domain(cloud: RunningCloud, admin_session: ks_session.Session, domain_id: str, project_name: str,
               user_name: str, role: str = "member") -> Named:
    """A user named `user_name` with `role` on a project named `project_name`, both in `domain_id`."""
    base = cloud.auth_url
    project = admin_session.post(f"{base}/projects", json={"project": {
        "name": project_name, "domain_id": domain_id}}).json()["project"]
    password = uuid.uuid4().hex
    user = admin_session.post(f"{base}/users", json={"user": {
        "name": user_name, "password": password, "domain_id": domain_id}}).json()["user"]
    role_id = admin_session.get(f"{base}/roles", params={"name": role}).json()["roles"][0]["id"]
    admin_session.put(f"{base}/projects/{project['id']}/users/{user['id']}/roles/{role_id}")
    auth = v3.Password(auth_url=base, username=user_name, password=password, project_name=project_name,
                       user_domain_id=domain_id, project_domain_id=domain_id)
    login = ks_session.Session(auth=auth)
    found = User(user["id"], user_name, password, project["id"], project_name)
    return Named(found, Swift(cloud, found.account, login.get_token()))


def _shared(owner: Swift, acl: str, header: str = "X-Container-Read") -> str:
    name = unique("ks")
    assert owner("PUT", f"/{name}", headers={header: acl}).status_code == 201
    assert owner("PUT", f"/{name}/o", data=b"shared").status_code == 201
    return name


def test_acl_names_match_only_default_domain_users(cloud: RunningCloud, admin_session: ks_session.Session,
                                                    make_user: MakeUser, user_swift: UserSwift) -> None:
    owner = user_swift(make_user("member"))
    project_name, user_name = unique("proj"), unique("user")
    friend = _in_domain(cloud, admin_session, "default", project_name, user_name)
    domain = admin_session.post(f"{cloud.auth_url}/domains", json={"domain": {"name": unique("dom")}}).json()
    # Same names, another domain: keystoneauth cannot tell them apart by name, so names do not match.
    impostor = _in_domain(cloud, admin_session, domain["domain"]["id"], project_name, user_name)
    name = _shared(owner, f"{project_name}:{user_name}")
    as_friend = Swift(cloud, owner.account, friend.swift.token)
    as_impostor = Swift(cloud, owner.account, impostor.swift.token)
    assert as_friend("GET", f"/{name}/o").content == b"shared"
    assert as_impostor("GET", f"/{name}/o").status_code == 403
    # By ids, the other domain's user is granted.
    by_id = _shared(owner, f"{impostor.user.project_id}:{impostor.user.user_id}")
    assert as_impostor("GET", f"/{by_id}/o").content == b"shared"


def test_a_service_token_needs_the_service_role(cloud: RunningCloud, admin_swift: Swift, make_user: MakeUser,
                                                user_swift: UserSwift) -> None:
    name = _shared(admin_swift, "")
    member_token = user_swift(make_user("member")).token
    service_token = user_swift(make_user("service")).token
    assert admin_swift("GET", f"/{name}/o", headers={"X-Service-Token": service_token}).content == b"shared"
    for bad in ("garbage", member_token):
        refused = admin_swift("GET", f"/{name}/o", headers={"X-Service-Token": bad})
        assert refused.status_code == 401, bad
    # A service token alone is no user identity.
    anonymous = Swift(cloud, admin_swift.account, None)
    assert anonymous("GET", f"/{name}/o", headers={"X-Service-Token": service_token}).status_code == 401


def test_an_invalid_token_is_an_anonymous_caller(cloud: RunningCloud, admin_swift: Swift) -> None:
    public = _shared(admin_swift, ".r:*")
    private = _shared(admin_swift, "")
    forged = Swift(cloud, admin_swift.account, "gAAAA-not-a-token")
    assert forged("GET", f"/{public}/o").content == b"shared"
    assert forged("GET", f"/{private}/o").status_code == 401
    assert forged("PUT", f"/{public}/o", data=b"defaced").status_code == 401
    assert forged("GET", f"/{public}").status_code == 401  # no .rlistings


@pytest.mark.parametrize("how", ["COPY", "X-Copy-From"])
def test_cross_account_copy_needs_acl_read_and_acl_write(make_user: MakeUser, user_swift: UserSwift,
                                                         how: str) -> None:
    alice, bob, carol = make_user("member"), make_user("member"), make_user("member")
    as_alice, as_bob = user_swift(alice), user_swift(bob)
    source = _shared(as_alice, f"{bob.project_id}:{bob.user_id},{carol.project_id}:{carol.user_id}")
    target = unique("dst")
    assert as_bob("PUT", f"/{target}").status_code == 201

    def copy(caller: User, dest: str) -> int:
        if how == "COPY":
            swift = user_swift(caller, alice.account)
            return swift("COPY", f"/{source}/o", headers={"Destination": f"{target}/{dest}",
                                                          "Destination-Account": bob.account}).status_code
        swift = user_swift(caller, bob.account)
        return swift("PUT", f"/{target}/{dest}", headers={"X-Copy-From": f"{source}/o",
                                                          "X-Copy-From-Account": alice.account}).status_code

    assert copy(bob, "mine") == 201  # read through alice's ACL, write as the owner of his account
    assert as_bob("GET", f"/{target}/mine").content == b"shared"
    assert copy(carol, "hers") == 403  # carol may read the source but not write bob's container
    assert as_bob("POST", f"/{target}", headers={"X-Container-Write": f"{carol.project_id}:{carol.user_id}"}
                  ).status_code == 204
    assert copy(carol, "hers") == 201
    mallory = make_user("member")
    grant = {"X-Container-Write": f"{mallory.project_id}:*"}
    assert as_bob("POST", f"/{target}", headers=grant).status_code == 204
    assert copy(mallory, "stolen") == 403  # write on the destination, but no read on the source
    assert as_bob("GET", f"/{target}/stolen").status_code == 404
