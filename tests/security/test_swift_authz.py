"""Swift authorization (issue 7, findings 1 and 10): who owns an account, and who sees owner-only headers.

As keystoneauth with the reference cloud's settings (`operator_roles = admin, member`,
`reseller_admin_role = ResellerAdmin`): an operator role owns its own project's account only, the
reseller admin owns every account, a `reader` gets only what a container ACL grants, and only owners
see ACLs and TempURL keys (Swift's `swift_owner_headers`).
"""

from __future__ import annotations

from collections.abc import Callable

from swift.conftest import MakeUser, User
from swift.helpers import Swift, unique

UserSwift = Callable[..., Swift]

ACCOUNT_KEY, CONTAINER_KEY = "account-sesame", "container-sesame"


def _owner_only_names(headers: dict[str, str]) -> set[str]:
    secret = ("temp-url-key", "x-container-read", "x-container-write")
    return {name.lower() for name in headers if any(part in name.lower() for part in secret)}


def _keyed_public_container(owner: Swift, **acl: str) -> str:
    name = unique("keyed")
    headers = {"X-Container-Read": ".r:*,.rlistings", "X-Container-Meta-Temp-URL-Key": CONTAINER_KEY,
               "X-Container-Meta-Temp-URL-Key-2": CONTAINER_KEY + "2", "X-Container-Meta-Color": "blue",
               **acl}
    assert owner("PUT", f"/{name}", headers=headers).status_code == 201
    assert owner("PUT", f"/{name}/o", data=b"public").status_code == 201
    assert owner("POST", "", headers={"X-Account-Meta-Temp-URL-Key": ACCOUNT_KEY}).status_code == 204
    return name


def test_owner_only_headers_are_hidden_from_everyone_but_owners(make_user: MakeUser,
                                                                 user_swift: UserSwift) -> None:
    """Finding 1: anonymous users, ACL grantees of other projects and readers saw TempURL keys."""
    owner_user, guest = make_user("member"), make_user("member")
    reader = make_user("reader", project_id=owner_user.project_id)
    owner = user_swift(owner_user)
    read_acl = f".r:*,.rlistings,{guest.project_id}:*,reader"
    name = _keyed_public_container(owner, **{"X-Container-Read": read_acl})

    mine = owner("HEAD", f"/{name}").headers
    assert (mine["X-Container-Meta-Temp-Url-Key"], mine["X-Container-Read"]) == (CONTAINER_KEY, read_acl)
    assert owner("HEAD").headers["X-Account-Meta-Temp-Url-Key"] == ACCOUNT_KEY

    callers = {"anonymous": owner, "other project": user_swift(guest, owner_user.account),
               "reader": user_swift(reader)}
    for who, swift in callers.items():
        token = None if who == "anonymous" else ""
        for method in ("HEAD", "GET"):
            seen = swift(method, f"/{name}", token=token)
            assert seen.status_code in (200, 204), (who, method, seen.status_code)
            assert _owner_only_names(dict(seen.headers)) == set(), (who, method)
            assert seen.headers["X-Container-Meta-Color"] == "blue"
    as_reader = callers["reader"]
    account = as_reader("HEAD")
    assert (account.status_code, "X-Account-Meta-Temp-Url-Key" in account.headers) == (403, False)
    assert as_reader("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "mine"}).status_code == 403
    assert as_reader("POST", f"/{name}", headers={"X-Container-Meta-Temp-URL-Key": "mine"}).status_code == 403
    assert owner("HEAD").headers["X-Account-Meta-Temp-Url-Key"] == ACCOUNT_KEY


def test_project_admin_owns_only_its_own_account(make_user: MakeUser, user_swift: UserSwift) -> None:
    """Finding 10: a project-scoped admin of project A reached (and owned) project B's account."""
    victim_user = make_user("member")
    victim = user_swift(victim_user)
    name = unique("victim")
    assert victim("PUT", f"/{name}", headers={"X-Container-Read": ".r:*"}).status_code == 201
    assert victim("PUT", f"/{name}/secret", data=b"secret").status_code == 201

    intruder = user_swift(make_user("admin"), victim_user.account)
    assert intruder("GET", "").status_code == 403
    assert intruder("HEAD", f"/{name}").status_code == 403
    assert intruder("PUT", f"/{name}/planted", data=b"x").status_code == 403
    assert intruder("DELETE", f"/{name}/secret").status_code == 403
    assert intruder("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "k"}).status_code == 403
    assert victim("GET", f"/{name}/secret").content == b"secret"

    reseller = user_swift(make_user("ResellerAdmin"), victim_user.account)
    assert reseller("HEAD", f"/{name}").headers["X-Container-Read"] == ".r:*"
    assert reseller("PUT", f"/{name}/by-reseller", data=b"r").status_code == 201
    assert victim("GET", f"/{name}/by-reseller").content == b"r"


def test_reader_gets_only_what_an_acl_grants(make_user: MakeUser, user_swift: UserSwift) -> None:
    """Finding 10: `reader` is no operator role, so it owns nothing; a role ACL grants it reads in its
    own project's account only."""
    owner_user = make_user("member")
    owner = user_swift(owner_user)
    reader = user_swift(make_user("reader", project_id=owner_user.project_id))
    closed, shared = unique("closed"), unique("shared")
    assert owner("PUT", f"/{closed}").status_code == 201
    assert owner("PUT", f"/{closed}/o", data=b"closed").status_code == 201
    assert owner("PUT", f"/{shared}", headers={"X-Container-Read": "reader"}).status_code == 201
    assert owner("PUT", f"/{shared}/o", data=b"shared").status_code == 201

    assert reader("GET", "").status_code == 403
    assert reader("GET", f"/{closed}/o").status_code == 403
    assert reader("GET", f"/{shared}/o").content == b"shared"
    assert reader("GET", f"/{shared}").text == "o\n"
    assert reader("PUT", f"/{shared}/x", data=b"x").status_code == 403

    stranger_reader = user_swift(make_user("reader"), owner_user.account)
    assert stranger_reader("GET", f"/{shared}/o").status_code == 403
    stranger_member = user_swift(make_user("member"), owner_user.account)
    assert stranger_member("GET", f"/{shared}/o").status_code == 403


def test_member_is_an_operator(make_user: MakeUser, user_swift: UserSwift) -> None:
    user: User = make_user("member")
    member = user_swift(user)
    name = unique("mine")
    assert member("PUT", f"/{name}", headers={"X-Container-Write": "x:y"}).status_code == 201
    assert member("HEAD", f"/{name}").headers["X-Container-Write"] == "x:y"
    assert member("PUT").status_code == 202


def test_revoked_acls_stop_working_at_once_in_every_worker(
        make_user: MakeUser, user_swift: Callable[..., Swift]) -> None:
    """Container metadata (ACLs among it) is cached per worker: a change made through one worker
    must reach every other before the next request."""
    owner = user_swift(make_user("member"))
    name = unique("revoke")
    assert owner("PUT", f"/{name}", headers={"X-Container-Read": ".r:*"}).status_code == 201
    assert owner("PUT", f"/{name}/o", data=b"secret").status_code == 201
    for _ in range(20):  # both workers read (and cache) the public ACL
        assert owner("GET", f"/{name}/o", token=None).status_code == 200
    assert owner("POST", f"/{name}", headers={"X-Remove-Container-Read": "x"}).status_code == 204
    assert {owner("GET", f"/{name}/o", token=None).status_code for _ in range(20)} == {401}
