"""Who may do what: roles on the owning project, container ACLs, TempURL-keyed FormPost."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import requests
import swiftclient

from cloud import RunningCloud
from swift.conftest import MakeUser, User
from swift.helpers import Swift, unique

UserSwift = Callable[..., Swift]


def test_reader_reads_what_an_acl_grants_but_cannot_write(make_user: MakeUser, user_swift: UserSwift) -> None:
    """`reader` is no operator role (keystoneauth): it reads where a role ACL lets it, never writes."""
    member = make_user("member")
    reader = make_user("reader", project_id=member.project_id)
    owner, readonly = user_swift(member), user_swift(reader)
    name, closed = unique("c"), unique("closed")
    assert owner("PUT", f"/{name}", headers={"X-Container-Read": "reader"}).status_code == 201
    assert owner("PUT", f"/{name}/o", data=b"data").status_code == 201
    assert owner("PUT", f"/{closed}").status_code == 201
    assert readonly("GET", f"/{name}/o").content == b"data"
    assert readonly("GET", f"/{name}").status_code == 200
    assert readonly("GET", f"/{closed}").status_code == 403
    denied = readonly("PUT", f"/{name}/o2", data=b"x")
    assert (denied.status_code, "<h1>Forbidden</h1>" in denied.text) == (403, True)
    assert readonly("DELETE", f"/{name}/o").status_code == 403
    assert readonly("POST", "", headers={"X-Account-Meta-A": "b"}).status_code == 403


def test_other_project_and_its_admin_are_forbidden(make_user: MakeUser, user_swift: UserSwift,
                                                   admin_swift: Swift) -> None:
    alice, mallory = make_user("member"), make_user("member")
    name = unique("c")
    user_swift(alice)("PUT", f"/{name}")
    intruder = user_swift(mallory, alice.account)
    assert intruder("GET", f"/{name}").status_code == 403
    assert intruder("PUT", f"/{name}/x", data=b"x").status_code == 403
    project_admin = Swift(admin_swift.cloud, alice.account, admin_swift.token)
    assert project_admin("PUT", f"/{name}/x", data=b"x").status_code == 403
    reseller = user_swift(make_user("ResellerAdmin"), alice.account)
    assert reseller("PUT", f"/{name}/x", data=b"x").status_code == 201


def _shared_container(make_user: MakeUser, user_swift: UserSwift, **acl: str) -> tuple[User, Swift, str]:
    owner = make_user("member")
    swift = user_swift(owner)
    name = unique("acl")
    assert swift("PUT", f"/{name}", headers=acl).status_code == 201
    assert swift("PUT", f"/{name}/pub.txt", data=b"public data").status_code == 201
    return owner, swift, name


def test_public_read_acl_and_listings(make_user: MakeUser, user_swift: UserSwift) -> None:
    _, owner, name = _shared_container(make_user, user_swift, **{"X-Container-Read": ".r:*"})
    assert owner("HEAD", f"/{name}").headers["X-Container-Read"] == ".r:*"
    anonymous = owner("GET", f"/{name}/pub.txt", token=None)
    assert (anonymous.status_code, anonymous.content) == (200, b"public data")
    assert owner("GET", f"/{name}", token=None).status_code == 401  # listing needs .rlistings
    assert owner("PUT", f"/{name}/x", token=None, data=b"x").status_code == 401
    owner("POST", f"/{name}", headers={"X-Container-Read": ".r:*,.rlistings"})
    assert owner("GET", f"/{name}", token=None).text == "pub.txt\n"
    owner("POST", f"/{name}", headers={"X-Remove-Container-Read": "x"})
    assert owner("GET", f"/{name}/pub.txt", token=None).status_code == 401


def test_referrer_acl(make_user: MakeUser, user_swift: UserSwift) -> None:
    acl = {"X-Container-Read": ".r:.example.com,.r:-bad.example.com"}
    _, owner, name = _shared_container(make_user, user_swift, **acl)
    good = owner("GET", f"/{name}/pub.txt", token=None, headers={"Referer": "http://www.example.com/p"})
    assert good.status_code == 200
    bad = owner("GET", f"/{name}/pub.txt", token=None, headers={"Referer": "http://bad.example.com/"})
    assert bad.status_code == 401
    assert owner("PUT", f"/{name}", headers={"X-Container-Write": ".r:*"}).status_code == 400


def test_project_user_grants(make_user: MakeUser, user_swift: UserSwift) -> None:
    guest = make_user("member")
    acl = {"X-Container-Read": f"{guest.project_id}:{guest.user_id}",
           "X-Container-Write": f"{guest.project_name}:{guest.name}"}
    owner_user, owner, name = _shared_container(make_user, user_swift, **acl)
    as_guest = user_swift(guest, owner_user.account)
    assert as_guest("GET", f"/{name}/pub.txt").content == b"public data"
    assert as_guest("PUT", f"/{name}/from-guest", data=b"hi").status_code == 201
    assert owner("GET", f"/{name}/from-guest").content == b"hi"
    assert "X-Container-Read" not in as_guest("HEAD", f"/{name}").headers
    assert as_guest("DELETE", f"/{name}").status_code == 403
    stranger = user_swift(make_user("member"), owner_user.account)
    assert stranger("GET", f"/{name}/pub.txt").status_code == 403


def _form_signature(path: str, redirect: str, max_size: int, max_count: int, expires: int, key: str) -> str:
    message = f"{path}\n{redirect}\n{max_size}\n{max_count}\n{expires}"
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_formpost(cloud: RunningCloud, admin_swift: Swift, conn: swiftclient.Connection) -> None:
    name = unique("form")
    conn.put_container(name, headers={"X-Container-Meta-Temp-URL-Key": "form-key"})
    path = f"/v1/{admin_swift.account}/{name}/up/"
    expires = int(time.time()) + 60
    fields = {"redirect": "", "max_file_size": "100", "max_file_count": "2", "expires": str(expires),
              "signature": _form_signature(path, "", 100, 2, expires, "form-key")}
    files: list[tuple[str, tuple[str, bytes, str]]] = [
        ("file1", ("a.txt", b"first file", "text/plain")), ("file2", ("b.bin", b"second", ""))]
    response = requests.post(f"{cloud.object_url}{path}", data=fields, files=files, timeout=10)
    assert response.status_code == 201, response.text
    headers, body = conn.get_object(name, "up/a.txt")
    assert (body, headers["content-type"]) == (b"first file", "text/plain")
    fields["signature"] = "0" * 64
    forged = requests.post(f"{cloud.object_url}{path}", data=fields, files=files, timeout=10)
    assert (forged.status_code, forged.text) == (401, "FormPost: Invalid Signature")
    fields.update(max_file_size="3", signature=_form_signature(path, "", 3, 2, expires, "form-key"))
    too_big = requests.post(f"{cloud.object_url}{path}", data=fields, files=files, timeout=10)
    assert too_big.status_code == 400 and "max_file_size exceeded" in too_big.text


def test_write_grant_does_not_allow_copying_unreadable_objects(make_user: MakeUser,
                                                                user_swift: UserSwift) -> None:
    guest = make_user("member")
    owner_user, owner, drop = _shared_container(
        make_user, user_swift, **{"X-Container-Write": f"{guest.project_id}:{guest.user_id}"})
    private = unique("private")
    owner("PUT", f"/{private}")
    owner("PUT", f"/{private}/secret", data=b"secret")
    as_guest = user_swift(guest, owner_user.account)
    stolen = as_guest("PUT", f"/{drop}/loot", headers={"X-Copy-From": f"/{private}/secret",
                                                       "Content-Length": "0"})
    assert stolen.status_code == 403
    assert owner("GET", f"/{drop}/loot").status_code == 404
