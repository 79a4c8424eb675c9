"""Swift symlinks (issue 8): dynamic and static links, chains and loops, listings, POST, COPY,
TempURLs, and reads of the target authorised as the caller."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import pytest
import requests
import swiftclient
from swiftclient.utils import generate_temp_url

from cloud import RunningCloud
from swift.conftest import MakeUser, User, connection
from swift.helpers import Swift, run_cli, unique

EMPTY_MD5 = hashlib.md5(b"").hexdigest()


def link(conn: swiftclient.Connection, container: str, name: str, target: str, **headers: str) -> None:
    conn.put_object(container, name, b"", headers={"X-Symlink-Target": target, **headers})


def test_dynamic_link_answers_with_its_target(conn: swiftclient.Connection, admin_swift: Swift,
                                             container: str) -> None:
    conn.put_object(container, "data.txt", b"hello", content_type="text/plain",
                    headers={"X-Object-Meta-Color": "blue"})
    link(conn, container, "link", f"{container}/data.txt")

    headers, body = conn.get_object(container, "link")
    assert body == b"hello"
    assert headers["content-type"] == "text/plain"
    assert headers["x-object-meta-color"] == "blue"
    assert headers["content-location"] == f"/v1/{admin_swift.account}/{container}/data.txt"

    head = admin_swift("HEAD", f"/{container}/link")
    assert head.status_code == 200 and head.headers["Content-Length"] == "5"
    assert head.headers["Etag"] == hashlib.md5(b"hello").hexdigest()

    itself = admin_swift("GET", f"/{container}/link?symlink=get")
    assert itself.status_code == 200 and itself.content == b""
    assert itself.headers["X-Symlink-Target"] == f"{container}/data.txt"
    assert itself.headers["Content-Type"] == "application/symlink"
    assert itself.headers["Etag"] == EMPTY_MD5
    assert "X-Symlink-Target-Account" not in itself.headers
    assert "Content-Location" not in itself.headers


def test_link_names_are_percent_encoded_and_a_range_reads_the_target(
        conn: swiftclient.Connection, admin_swift: Swift, container: str) -> None:
    conn.put_object(container, "dir/na me ü", b"0123456789")
    link(conn, container, "l", f"{container}/dir/na%20me%20%C3%BC")
    answer = admin_swift("GET", f"/{container}/l", headers={"Range": "bytes=2-4"})
    assert answer.status_code == 206 and answer.content == b"234"
    assert answer.headers["Content-Location"] == f"/v1/{admin_swift.account}/{container}/dir/na%20me%20%C3%BC"
    assert admin_swift("HEAD", f"/{container}/l?symlink=get").headers["X-Symlink-Target"] == \
        f"{container}/dir/na%20me%20%C3%BC"


def test_bad_link_requests_are_refused(admin_swift: Swift, container: str) -> None:
    def put(name: str, data: bytes = b"", **headers: str) -> requests.Response:
        return admin_swift("PUT", f"/{container}/{name}", data=data, headers=headers)

    answer = put("l", b"body", **{"X-Symlink-Target": f"{container}/x"})
    assert (answer.status_code, answer.text) == (400, "Symlink requests require a zero byte body")
    form = "X-Symlink-Target header must be of the form <container name>/<object name>"
    for target in ("/c/o", "just-a-container", "c/", "/"):
        answer = put("l", **{"X-Symlink-Target": target})
        assert (answer.status_code, answer.text) == (412, form), target
    answer = put("l", **{"X-Symlink-Target": f"{container}/l"})
    assert (answer.status_code, answer.text) == (400, "Symlink cannot target itself")
    answer = put("l", **{"X-Symlink-Target": "c/o", "X-Symlink-Target-Account": "a/b"})
    assert (answer.status_code, answer.text) == (412, "Account name cannot contain slashes")
    answer = put("l", **{"X-Symlink-Target": "c/o", "X-Symlink-Target-Etag": 'ab;c'})
    assert (answer.status_code, answer.text) == (400, "Bad X-Symlink-Target-Etag format")
    answer = admin_swift("POST", f"/{container}/l", headers={"X-Symlink-Target": "c/o"})
    assert answer.status_code == 400
    assert answer.text == "A PUT request is required to set a symlink target"
    assert admin_swift("HEAD", f"/{container}/l").status_code == 404


def test_dangling_link_is_404_until_its_target_exists(conn: swiftclient.Connection, admin_swift: Swift,
                                                      container: str) -> None:
    link(conn, container, "later", f"{container}/not-yet")
    answer = admin_swift("GET", f"/{container}/later")
    assert answer.status_code == 404
    assert answer.headers["Content-Location"] == f"/v1/{admin_swift.account}/{container}/not-yet"
    assert admin_swift("HEAD", f"/{container}/later").status_code == 404
    conn.put_object(container, "not-yet", b"now")
    assert conn.get_object(container, "later")[1] == b"now"
    assert admin_swift("DELETE", f"/{container}/later").status_code == 204
    assert conn.get_object(container, "not-yet")[1] == b"now"  # deleting a link keeps its target


def test_chains_follow_two_links_and_loops_are_refused(conn: swiftclient.Connection, admin_swift: Swift,
                                                       container: str) -> None:
    conn.put_object(container, "end", b"end")
    link(conn, container, "one", f"{container}/end")
    link(conn, container, "two", f"{container}/one")
    link(conn, container, "three", f"{container}/two")
    assert conn.get_object(container, "two")[1] == b"end"
    too_many = (409, "Too many levels of symbolic links, maximum allowed is 2")
    answer = admin_swift("GET", f"/{container}/three")
    assert (answer.status_code, answer.text) == too_many
    link(conn, container, "ping", f"{container}/pong")
    link(conn, container, "pong", f"{container}/ping")
    answer = admin_swift("GET", f"/{container}/ping")
    assert (answer.status_code, answer.text) == too_many
    assert admin_swift("HEAD", f"/{container}/pong").status_code == 409


def test_static_link_pins_its_target(conn: swiftclient.Connection, admin_swift: Swift,
                                     container: str) -> None:
    etag = conn.put_object(container, "pinned", b"version one", content_type="text/x-one")
    path = f"/v1/{admin_swift.account}/{container}/pinned"

    missing = admin_swift("PUT", f"/{container}/s0", headers={
        "X-Symlink-Target": f"{container}/nothing", "X-Symlink-Target-Etag": etag})
    assert (missing.status_code, missing.text) == (409, "X-Symlink-Target does not exist")
    wrong = admin_swift("PUT", f"/{container}/s0", headers={
        "X-Symlink-Target": f"{container}/pinned", "X-Symlink-Target-Etag": "0" * 32})
    assert wrong.status_code == 409 and wrong.headers["Content-Location"] == path
    assert wrong.text == f"Object Etag '{etag}' does not match X-Symlink-Target-Etag header '{'0' * 32}'"

    link(conn, container, "static", f"{container}/pinned", **{"X-Symlink-Target-Etag": f'"{etag}"'})
    itself = admin_swift("HEAD", f"/{container}/static?symlink=get")
    assert itself.headers["X-Symlink-Target-Etag"] == etag
    assert itself.headers["X-Symlink-Target-Bytes"] == "11"
    assert itself.headers["Content-Type"] == "text/x-one"  # a static link takes its target's type
    assert conn.get_object(container, "static")[1] == b"version one"

    conn.put_object(container, "pinned", b"version two")
    changed = admin_swift("GET", f"/{container}/static")
    assert changed.status_code == 409 and changed.headers["Content-Location"] == path
    assert "does not match X-Symlink-Target-Etag header" in changed.text


def test_json_listing_shows_link_targets(conn: swiftclient.Connection, admin_swift: Swift,
                                         container: str) -> None:
    etag = conn.put_object(container, "target", b"12345")
    link(conn, container, "dynamic", f"{container}/target")
    link(conn, container, "static", f"{container}/target", **{"X-Symlink-Target-Etag": etag})
    conn.put_object(container, "empty", b"")
    listing = {entry["name"]: entry for entry in admin_swift("GET", f"/{container}?format=json").json()}
    target_path = f"/v1/{admin_swift.account}/{container}/target"
    assert listing["dynamic"] == {
        "bytes": 0, "hash": EMPTY_MD5, "name": "dynamic", "content_type": "application/symlink",
        "last_modified": listing["dynamic"]["last_modified"], "symlink_path": target_path}
    assert listing["static"]["symlink_etag"] == etag and listing["static"]["symlink_bytes"] == 5
    assert listing["static"]["symlink_path"] == target_path
    assert "symlink_path" not in listing["empty"] and "symlink_path" not in listing["target"]
    assert b"symlink_path" not in admin_swift("GET", f"/{container}?format=xml").content


def test_post_to_a_link_updates_the_link_and_redirects(conn: swiftclient.Connection, admin_swift: Swift,
                                                       container: str) -> None:
    conn.put_object(container, "target", b"data", headers={"X-Object-Meta-Who": "target"})
    link(conn, container, "link", f"{container}/target")
    answer = admin_swift("POST", f"/{container}/link", headers={"X-Object-Meta-Who": "link",
                                                                "Content-Type": "text/x-link"},
                         allow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["Location"] == f"/v1/{admin_swift.account}/{container}/target"
    itself = admin_swift("HEAD", f"/{container}/link?symlink=get")
    assert itself.headers["X-Object-Meta-Who"] == "link" and itself.headers["Content-Type"] == "text/x-link"
    assert itself.headers["X-Symlink-Target"] == f"{container}/target"  # the link survives the POST
    assert conn.head_object(container, "target")["x-object-meta-who"] == "target"


def test_copy_of_a_link_copies_its_target_unless_asked_for_the_link(
        conn: swiftclient.Connection, admin_swift: Swift, container: str) -> None:
    conn.put_object(container, "target", b"payload", headers={"X-Object-Meta-K": "v"})
    link(conn, container, "link", f"{container}/target")
    conn.copy_object(container, "link", f"/{container}/copied")
    headers, body = conn.get_object(container, "copied", query_string="symlink=get")
    assert body == b"payload" and headers["x-object-meta-k"] == "v" and "x-symlink-target" not in headers

    answer = admin_swift("COPY", f"/{container}/link?symlink=get",
                         headers={"Destination": f"{container}/link-copy", "X-Fresh-Metadata": "true"})
    assert answer.status_code == 201
    itself = admin_swift("HEAD", f"/{container}/link-copy?symlink=get")
    assert itself.headers["X-Symlink-Target"] == f"{container}/target"
    assert conn.get_object(container, "link-copy")[1] == b"payload"


def test_info_advertises_symlinks(cloud: RunningCloud) -> None:
    info = requests.get(f"{cloud.object_url}/info", timeout=10).json()
    assert info["symlink"] == {"symloop_max": 2, "static_links": True}


# ---------------------------------------------------------------------------------------- security


@pytest.fixture
def private_and_public(conn: swiftclient.Connection) -> tuple[str, str]:
    """A private container holding `secret` and a world-readable one holding a link to it."""
    private, public = unique("private"), unique("public")
    conn.put_container(private)
    conn.put_container(public, headers={"X-Container-Read": ".r:*,.rlistings"})
    conn.put_object(private, "secret", b"top secret")
    link(conn, public, "door", f"{private}/secret")
    return private, public


def test_a_public_link_does_not_publish_a_private_target(
        admin_swift: Swift, private_and_public: tuple[str, str], make_user: MakeUser,
        user_swift: Callable[[User, str | None], Swift]) -> None:
    _, public = private_and_public
    anonymous = admin_swift("GET", f"/{public}/door", token=None)
    assert anonymous.status_code == 401 and b"top secret" not in anonymous.content
    stranger = user_swift(make_user("member"), admin_swift.account)
    assert stranger("GET", f"/{public}/door").status_code == 403
    assert stranger("HEAD", f"/{public}/door").status_code == 403
    # the link itself is as public as its container
    assert admin_swift("GET", f"/{public}/door?symlink=get", token=None).status_code == 200
    assert admin_swift("GET", f"/{public}/door").content == b"top secret"


def test_a_link_in_the_attackers_account_reads_nothing_of_the_victim(
        admin_swift: Swift, private_and_public: tuple[str, str], make_user: MakeUser,
        user_swift: Callable[[User, str | None], Swift]) -> None:
    private, _ = private_and_public
    attacker = user_swift(make_user("member"), None)
    assert attacker("PUT", "/loot").status_code == 201
    aim = {"X-Symlink-Target": f"{private}/secret", "X-Symlink-Target-Account": admin_swift.account}
    assert attacker("PUT", "/loot/dynamic", headers=aim).status_code == 201
    assert attacker("GET", "/loot/dynamic").status_code == 403
    # a static link would probe the target's existence and etag: that read is refused too
    guess = attacker("PUT", "/loot/static", headers={**aim, "X-Symlink-Target-Etag": EMPTY_MD5})
    assert guess.status_code == 403
    # and a copy through the link is a read of the target as well
    copy = attacker("PUT", "/loot/copy", headers={"X-Copy-From": "loot/dynamic"})
    assert copy.status_code == 403


def test_cross_account_link_needs_read_access_to_the_target(
        conn: swiftclient.Connection, cloud: RunningCloud, admin_swift: Swift, make_user: MakeUser) -> None:
    user = make_user("member")
    shared = unique("shared")
    conn.put_container(shared, headers={"X-Container-Read": f"{user.project_id}:{user.user_id}"})
    conn.put_object(shared, "doc", b"shared doc")
    theirs = connection(cloud, user.name, user.password, user.project_name)
    theirs.put_container("mine")
    link(theirs, "mine", "to-shared", f"{shared}/doc", **{"X-Symlink-Target-Account": admin_swift.account})
    headers, body = theirs.get_object("mine", "to-shared")
    assert body == b"shared doc"
    assert headers["content-location"] == f"/v1/{admin_swift.account}/{shared}/doc"
    conn.post_container(shared, headers={"X-Remove-Container-Read": "x"})
    with pytest.raises(swiftclient.ClientException) as refused:
        theirs.get_object("mine", "to-shared")
    assert refused.value.http_status == 403


def test_temp_urls_reach_a_links_target_only_within_their_scope(
        cloud: RunningCloud, make_user: MakeUser) -> None:
    user = make_user("member")
    theirs = connection(cloud, user.name, user.password, user.project_name)
    theirs.post_account({"X-Account-Meta-Temp-URL-Key": "account-key"})
    theirs.put_container("a", headers={"X-Container-Meta-Temp-URL-Key": "container-key"})
    theirs.put_container("b")
    theirs.put_object("b", "target", b"via tempurl")
    link(theirs, "a", "link", "b/target")
    path = f"/v1/{user.account}/a/link"
    expires = int(time.time()) + 300

    def fetch(key: str) -> requests.Response:
        return requests.get(cloud.object_url + generate_temp_url(path, expires, key, "GET"), timeout=10)

    assert fetch("account-key").content == b"via tempurl"
    assert fetch("container-key").status_code == 401  # a container key stays in its container
    put_url = cloud.object_url + generate_temp_url(f"/v1/{user.account}/a/new", expires, "account-key", "PUT")
    assert requests.put(put_url, headers={"X-Symlink-Target": "b/target"}, timeout=10).status_code == 400


def test_swift_cli_lists_and_downloads_through_a_link(cloud: RunningCloud, conn: swiftclient.Connection,
                                                      container: str) -> None:
    conn.put_object(container, "real", b"via the cli")
    link(conn, container, "alias", f"{container}/real")
    listed = run_cli(cloud, "swift", "list", "--long", container)
    assert listed.returncode == 0 and "alias" in listed.stdout
    downloaded = run_cli(cloud, "swift", "download", container, "alias", "-o", "-")
    assert downloaded.returncode == 0 and downloaded.stdout == "via the cli"


def test_link_to_a_versioned_target_has_one_content_location(admin_swift: Swift) -> None:
    """Found by tests/compat: a followed link into a versioned container answered two
    Content-Location headers (the link's target and the version's own)."""
    versioned = unique("v")
    admin_swift("PUT", f"/{versioned}", headers={"X-Versions-Enabled": "true"})
    admin_swift("PUT", f"/{versioned}/target", data=b"one")
    admin_swift("PUT", f"/{versioned}/link", headers={"X-Symlink-Target": f"{versioned}/target"})
    answer = admin_swift("GET", f"/{versioned}/link")
    assert answer.text == "one"
    assert answer.raw.headers.getlist("Content-Location") == [
        f"/v1/{admin_swift.account}/{versioned}/target"]
