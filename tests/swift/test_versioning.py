"""Swift object versioning (X-Versions-Enabled, ?versions, ?version-id=), one state with S3 versioning."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests
import swiftclient
from botocore.config import Config
from keystoneauth1 import session as ks_session

from cloud import RunningCloud
from swift.conftest import MakeUser, User
from swift.helpers import Swift, run_cli, unique

MARKER_TYPE = "application/x-deleted;swift_versions_deleted=1"
ENABLED = {"X-Versions-Enabled": "true"}


@pytest.fixture
def versioned(conn: swiftclient.Connection) -> str:
    name = unique("v")
    conn.put_container(name, headers=ENABLED)
    return name


def versions(conn: swiftclient.Connection, container: str, **params: str) -> list[dict[str, Any]]:
    query = "&".join(["versions", *(f"{key}={value}" for key, value in params.items())])
    return list(conn.get_container(container, query_string=query)[1])


def test_enable_overwrite_list_read_and_delete_versions(conn: swiftclient.Connection, versioned: str) -> None:
    assert conn.head_container(versioned)["x-versions-enabled"] == "True"
    ids = []
    for body in (b"one", b"two", b"three"):
        answer: dict[str, Any] = {}
        conn.put_object(versioned, "k", body, response_dict=answer)
        ids.append(answer["headers"]["x-object-version-id"])
    assert len(set(ids)) == 3 and all(len(version) == 32 for version in ids)

    listed = versions(conn, versioned)
    assert [(item["name"], item["version_id"], item["is_latest"]) for item in listed] == [
        ("k", ids[2], True), ("k", ids[1], False), ("k", ids[0], False)]
    assert listed[0]["bytes"] == 5 and listed[0]["content_type"] == "application/octet-stream"
    assert [item["name"] for item in conn.get_container(versioned)[1]] == ["k"]

    headers, body = conn.get_object(versioned, "k")
    assert body == b"three" and headers["x-object-version-id"] == ids[2]
    account = conn.url.rsplit("/", 1)[1]
    assert headers["content-location"] == f"/v1/{account}/{versioned}/k?version-id={ids[2]}"
    headers, body = conn.get_object(versioned, "k", query_string=f"version-id={ids[0]}")
    assert body == b"one" and headers["x-object-version-id"] == ids[0] and "content-location" not in headers
    assert conn.head_object(versioned, "k", query_string=f"version-id={ids[1]}")["content-length"] == "3"

    answer = {}
    conn.delete_object(versioned, "k", response_dict=answer)
    marker = answer["headers"]["x-object-version-id"]
    assert answer["status"] == 204 and marker not in ids
    with pytest.raises(swiftclient.ClientException) as missing:
        conn.get_object(versioned, "k")
    assert missing.value.http_status == 404
    assert missing.value.http_response_headers["x-object-version-id"] == "null"
    listed = versions(conn, versioned)
    assert listed[0] == {**listed[0], "version_id": marker, "is_latest": True, "content_type": MARKER_TYPE,
                         "bytes": 0, "hash": "d41d8cd98f00b204e9800998ecf8427e"}
    assert conn.get_container(versioned)[1] == []

    # Deleting the marker by id brings the newest version back.
    conn.delete_object(versioned, "k", query_string=f"version-id={marker}", response_dict=answer)
    assert answer["headers"]["x-object-version-id"] == marker
    assert answer["headers"]["x-object-current-version-id"] == ids[2]
    assert conn.get_object(versioned, "k")[1] == b"three"
    conn.delete_object(versioned, "k", query_string=f"version-id={ids[1]}", response_dict=answer)
    assert answer["headers"]["x-object-current-version-id"] == ids[2]
    assert [item["version_id"] for item in versions(conn, versioned)] == [ids[2], ids[0]]


def test_suspend_then_null_versions(conn: swiftclient.Connection, versioned: str,
                                    admin_swift: Swift) -> None:
    conn.put_object(versioned, "k", b"versioned")
    conn.post_container(versioned, headers={"X-Versions-Enabled": "false"})
    assert conn.head_container(versioned)["x-versions-enabled"] == "False"
    answer: dict[str, Any] = {}
    conn.put_object(versioned, "k", b"null one", response_dict=answer)
    assert "x-object-version-id" not in answer["headers"]
    assert conn.head_object(versioned, "k")["x-object-version-id"] == "null"
    listed = versions(conn, versioned)
    assert (listed[0]["version_id"], listed[0]["is_latest"]) == ("null", True)
    assert list(listed[0])[-2:] == ["version_id", "is_latest"]
    assert list(listed[1])[-2:] == ["is_latest", "version_id"]
    assert conn.get_object(versioned, "k", query_string="version-id=null")[1] == b"null one"
    # While suspended a DELETE names no version (the null one is replaced by a marker).
    deleted = admin_swift("DELETE", f"/{versioned}/k")
    assert deleted.status_code == 204 and "X-Object-Version-Id" not in deleted.headers


def test_swift_answers_to_bad_version_requests(admin_swift: Swift, versioned: str, container: str) -> None:
    admin_swift("PUT", f"/{versioned}/k", data=b"x")
    post = admin_swift("POST", f"/{versioned}/k?version-id=null")
    assert (post.status_code, post.text) == (400, "POST to a specific version is not allowed")
    bad = admin_swift("GET", f"/{versioned}/k?version-id=nope")
    assert (bad.status_code, bad.text) == (400, "Invalid version parameter")
    admin_swift("PUT", f"/{container}/k", data=b"x")
    unversioned = admin_swift("GET", f"/{container}/k?version-id={'0' * 32}")
    assert unversioned.status_code == 400
    assert unversioned.text == "version-aware operations require that the container is versioned"
    assert admin_swift("GET", f"/{container}/k?version-id=null").status_code == 200
    assert "X-Object-Version-Id" not in admin_swift("GET", f"/{container}/k").headers
    assert admin_swift("GET", f"/{versioned}/k?version-id={'0' * 32}").status_code == 404
    no_marker = admin_swift("GET", f"/{versioned}?versions&version_marker=null")
    assert (no_marker.status_code, no_marker.text) == (400, "version_marker param requires marker")
    bad_delimiter = admin_swift("GET", f"/{versioned}?versions&delimiter=1")
    assert (bad_delimiter.status_code, bad_delimiter.text) == (400, "invalid delimiter param")
    bad_marker = admin_swift("GET", f"/{versioned}?versions&marker=k&version_marker=zz")
    assert (bad_marker.status_code, bad_marker.text) == (400, "invalid version_marker param")
    both = admin_swift("POST", f"/{versioned}", headers={**ENABLED, "X-Versions-Location": "elsewhere"})
    assert both.status_code == 400


def test_delete_marker_answers(admin_swift: Swift, versioned: str) -> None:
    # Swift writes a marker even when nothing is current, and names it on its 404.
    missing = admin_swift("DELETE", f"/{versioned}/ghost")
    assert missing.status_code == 404 and len(missing.headers["X-Object-Version-Id"]) == 32
    marker = missing.headers["X-Object-Version-Id"]
    got = admin_swift("GET", f"/{versioned}/ghost?version-id={marker}")
    assert got.status_code == 404
    assert got.headers["X-Object-Version-Id"] == marker and got.headers["Content-Type"] == MARKER_TYPE
    head = admin_swift("HEAD", f"/{versioned}/ghost?version-id={marker}")
    assert head.status_code == 404 and head.content == b""
    gone = admin_swift("DELETE", f"/{versioned}/ghost?version-id={'0' * 32}")
    assert gone.status_code == 404 and gone.headers["X-Object-Current-Version-Id"] == "null"


def test_container_with_versions_is_not_deleted(admin_swift: Swift, versioned: str) -> None:
    admin_swift("PUT", f"/{versioned}/k", data=b"x")
    admin_swift("DELETE", f"/{versioned}/k")
    refused = admin_swift("DELETE", f"/{versioned}")
    assert (refused.status_code, refused.text) == (409, "Delete all versions before deleting container.")


def test_paging_with_version_marker(conn: swiftclient.Connection, versioned: str) -> None:
    for key in ("a", "b"):
        for body in (b"1", b"2", b"3"):
            conn.put_object(versioned, key, body)
    everything = versions(conn, versioned)
    first = versions(conn, versioned, limit="2")
    second = versions(conn, versioned, limit="2", marker=first[-1]["name"],
                      version_marker=first[-1]["version_id"])
    assert first + second == everything[:4]
    assert versions(conn, versioned, marker="a") == everything[3:]
    rolled = versions(conn, versioned, prefix="b")
    assert [item["name"] for item in rolled] == ["b"] * 3


def _listed(items: list[dict[str, Any]]) -> list[tuple[str, str | None, bool | None]]:
    return [(item.get("name") or item["subdir"], item.get("version_id"), item.get("is_latest"))
            for item in items]


def test_reverse_versions_listing_and_paging(conn: swiftclient.Connection, versioned: str) -> None:
    """`reverse` lists the exact reverse order (keys descending, oldest version first); a marker
    alone starts with that object's own versions, as Swift 2.38 does; version_marker pages on."""
    for key in ("a", "b/1", "b/2", "c"):
        for body in (b"1", b"22"):
            conn.put_object(versioned, key, body)
    conn.delete_object(versioned, "c")
    everything = versions(conn, versioned)
    backwards = versions(conn, versioned, reverse="true")
    assert _listed(backwards) == _listed(everything)[::-1] and len(backwards) == 9
    assert versions(conn, versioned, reverse="junk") == everything
    pages: list[dict[str, Any]] = versions(conn, versioned, reverse="on", limit="2")
    while len(pages) < 9:
        last = pages[-1]
        pages += versions(conn, versioned, reverse="1", limit="2", marker=last["name"],
                          version_marker=last["version_id"])
    # As in Swift, a page that starts inside an object does not call its current version latest.
    assert [item["version_id"] for item in pages] == [item["version_id"] for item in backwards]
    assert _listed(versions(conn, versioned, reverse="yes", prefix="b/")) == _listed(backwards)[3:7]
    from_b2 = versions(conn, versioned, reverse="true", marker="b/2")
    assert [item["name"] for item in from_b2] == ["b/2", "b/2", "b/1", "b/1", "a", "a"]
    assert [item["is_latest"] for item in from_b2[:2]] == [False, False]  # as Swift: outside its window
    assert versions(conn, versioned, reverse="true", marker="0") == []
    rolled = versions(conn, versioned, reverse="true", delimiter="/")
    assert [item.get("name") or item["subdir"] for item in rolled] == ["c", "c", "c", "b/", "a", "a"]


def test_end_marker_only_changes_is_latest(conn: swiftclient.Connection, versioned: str) -> None:
    """Swift 2.38 does not bound a versions listing by end_marker; the current version of an
    object at or past it is not `is_latest` (the plain listing it comes from stops there), and,
    listed backwards, an older delete marker is the first `is_latest` one seen."""
    conn.put_object(versioned, "a", b"1")
    conn.put_object(versioned, "d", b"1")
    conn.delete_object(versioned, "d")
    conn.put_object(versioned, "d", b"22")
    everything = _listed(versions(conn, versioned))
    assert [latest for _, _, latest in everything] == [True, True, False, False]
    bounded = _listed(versions(conn, versioned, end_marker="d"))
    assert [(name, version) for name, version, _ in bounded] == [(n, v) for n, v, _ in everything]
    assert [latest for _, _, latest in bounded] == [True, False, True, False]
    backwards = _listed(versions(conn, versioned, reverse="true"))
    assert [latest for _, _, latest in backwards] == [False, True, True, True]
    bounded = _listed(versions(conn, versioned, reverse="true", end_marker="a"))
    assert [latest for _, _, latest in bounded] == [False, True, True, False]


def test_reverse_versions_listing_is_refused_to_strangers(
        admin_swift: Swift, versioned: str, make_user: MakeUser,
        user_swift: Callable[[User, str | None], Swift]) -> None:
    admin_swift("PUT", f"/{versioned}/k", data=b"secret")
    as_stranger = user_swift(make_user(), admin_swift.account)
    assert as_stranger("GET", f"/{versioned}?versions&reverse=true&end_marker=z").status_code == 403
    assert admin_swift("GET", f"/{versioned}?versions&reverse=true", token=None).status_code == 401


def test_bytes_used_count_every_version(conn: swiftclient.Connection, versioned: str) -> None:
    """As in Swift 2.38: X-Container-Bytes-Used (and the account's totals and listing) count every
    version, delete markers as 0; X-Container-Object-Count counts the current objects only."""
    def totals() -> tuple[int, int]:
        headers = conn.head_container(versioned)
        listed = sum(item["bytes"] for item in versions(conn, versioned))
        assert int(headers["x-container-bytes-used"]) == listed
        return int(headers["x-container-object-count"]), listed

    account_before = int(conn.head_account()["x-account-bytes-used"])
    conn.put_object(versioned, "k", b"12345")
    conn.put_object(versioned, "k", b"123")
    conn.delete_object(versioned, "k")
    conn.put_object(versioned, "p", b"1")
    assert totals() == (1, 9)
    assert int(conn.head_account()["x-account-bytes-used"]) - account_before == 9
    listed = conn.get_account(prefix=versioned)[1]
    assert [item["bytes"] for item in listed if item["name"] == versioned] == [9]
    oldest = versions(conn, versioned, prefix="k")[-1]["version_id"]
    conn.delete_object(versioned, "k", query_string=f"version-id={oldest}")
    assert totals() == (1, 4)
    conn.post_container(versioned, headers={"X-Versions-Enabled": "false"})
    conn.put_object(versioned, "p", b"null")  # beside the versioned one
    conn.put_object(versioned, "p", b"nil")  # replaces the null version
    assert totals() == (1, 7)
    conn.delete_object(versioned, "p")  # a null marker replaces it
    assert totals() == (0, 4)
    for item in versions(conn, versioned):
        conn.delete_object(versioned, item["name"], query_string=f"version-id={item['version_id']}")
    assert totals() == (0, 0)
    assert int(conn.head_account()["x-account-bytes-used"]) == account_before


def test_plain_and_xml_versions_listings(admin_swift: Swift, versioned: str) -> None:
    admin_swift("PUT", f"/{versioned}/d/k", data=b"1")
    admin_swift("PUT", f"/{versioned}/d/k", data=b"22")
    plain = admin_swift("GET", f"/{versioned}?versions")
    assert plain.text == "d/k\nd/k\n"
    xml = admin_swift("GET", f"/{versioned}?versions&format=xml")
    assert xml.text.count("<object><name>d/k</name>") == 2 and "version_id" not in xml.text
    rolled = admin_swift("GET", f"/{versioned}?versions&format=json&delimiter=/").json()
    assert rolled == [{"subdir": "d/"}]


def test_cross_api_versions_are_one_state(conn: swiftclient.Connection, cloud: RunningCloud,
                                          admin_session: ks_session.Session) -> None:
    s3 = _admin_s3(cloud, admin_session)
    bucket = unique("x")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert conn.head_container(bucket)["x-versions-enabled"] == "True"
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"s3 one")["VersionId"]
    answer: dict[str, Any] = {}
    conn.put_object(bucket, "k", b"swift two", response_dict=answer)
    second = answer["headers"]["x-object-version-id"]
    assert [item["version_id"] for item in versions(conn, bucket)] == [second, first]
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [(second, True), (first, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=first)["Body"].read() == b"s3 one"
    conn.delete_object(bucket, "k", response_dict=answer)
    marker = s3.list_object_versions(Bucket=bucket)["DeleteMarkers"][0]
    assert marker["VersionId"] == answer["headers"]["x-object-version-id"] and marker["IsLatest"]

    swift_side = unique("x")
    conn.put_container(swift_side, headers=ENABLED)
    assert s3.get_bucket_versioning(Bucket=swift_side)["Status"] == "Enabled"
    conn.post_container(swift_side, headers={"X-Versions-Enabled": "no"})
    assert s3.get_bucket_versioning(Bucket=swift_side)["Status"] == "Suspended"


def _admin_s3(cloud: RunningCloud, admin_session: ks_session.Session) -> Any:
    user_id = admin_session.get_user_id()
    created = admin_session.post(f"{cloud.auth_url}/users/{user_id}/credentials/OS-EC2",
                                 json={"tenant_id": admin_session.get_project_id()}).json()["credential"]
    return boto3.client("s3", endpoint_url=cloud.object_url, region_name="us-east-1",
                        aws_access_key_id=created["access"], aws_secret_access_key=created["secret"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0}))


def test_versions_are_the_owners(admin_swift: Swift, versioned: str, make_user: MakeUser,
                                 user_swift: Callable[[User, str | None], Swift]) -> None:
    """Versions live, in Swift, in a hidden container without ACLs: an ACL reader or writer reaches
    the current object only, anonymous callers get 401, another project 403; the null version is
    the container's own."""
    version = admin_swift("PUT", f"/{versioned}/k", data=b"secret v1").headers["X-Object-Version-Id"]
    admin_swift("PUT", f"/{versioned}/k", data=b"public v2")
    reader, writer, stranger = make_user(), make_user(), make_user()
    as_stranger = user_swift(stranger, admin_swift.account)
    assert as_stranger("GET", f"/{versioned}?versions").status_code == 403
    assert as_stranger("GET", f"/{versioned}/k?version-id={version}").status_code == 403
    assert as_stranger("POST", f"/{versioned}", headers={"X-Versions-Enabled": "false"}).status_code == 403
    assert admin_swift("GET", f"/{versioned}?versions", token=None).status_code == 401
    admin_swift("POST", f"/{versioned}", headers={
        "X-Container-Read": f".r:*,.rlistings,{reader.project_id}:{reader.user_id}",
        "X-Container-Write": f"{writer.project_id}:{writer.user_id}"})
    as_reader = user_swift(reader, admin_swift.account)
    assert as_reader("GET", f"/{versioned}/k").text == "public v2"
    assert as_reader("GET", f"/{versioned}/k?version-id={version}").status_code == 403
    assert as_reader("HEAD", f"/{versioned}/k?version-id={version}").status_code == 403
    assert admin_swift("GET", f"/{versioned}/k", token=None).text == "public v2"
    assert admin_swift("GET", f"/{versioned}/k?version-id={version}", token=None).status_code == 401
    as_writer = user_swift(writer, admin_swift.account)
    assert as_writer("DELETE", f"/{versioned}/k?version-id={version}").status_code == 403
    assert as_writer("PUT", f"/{versioned}/k?version-id={version}", data=b"").status_code == 403
    # A writer's plain DELETE writes a marker, as in Swift (the marker PUT is the middleware's).
    assert as_writer("DELETE", f"/{versioned}/k").status_code == 204
    assert admin_swift("GET", f"/{versioned}/k", token=None).status_code == 404
    # A public listing lists versions too (Swift lists them for whoever may list the container),
    # though their data stays the owner's.
    assert len(admin_swift("GET", f"/{versioned}?versions&format=json", token=None).json()) == 3
    assert as_stranger("GET", f"/{versioned}/k?version-id={version}").status_code == 403
    assert admin_swift("GET", f"/{versioned}/k?version-id={version}").text == "secret v1"
    assert admin_swift("HEAD", f"/{versioned}").headers["X-Versions-Enabled"] == "True"


def test_restore_a_version_with_put(admin_swift: Swift, versioned: str) -> None:
    old = admin_swift("PUT", f"/{versioned}/k", data=b"old").headers["X-Object-Version-Id"]
    admin_swift("PUT", f"/{versioned}/k", data=b"new")
    body = admin_swift("PUT", f"/{versioned}/k?version-id={old}", data=b"body")
    assert (body.status_code, body.text) == (400, "PUT version-id requests require a zero byte body")
    restored = admin_swift("PUT", f"/{versioned}/k?version-id={old}", data=b"")
    assert restored.status_code == 201 and restored.headers["X-Object-Version-Id"]
    assert admin_swift("GET", f"/{versioned}/k").text == "old"


def test_info_advertises_object_versioning(cloud: RunningCloud) -> None:
    info = json.loads(requests.get(f"{cloud.object_url}/info", timeout=10).text)
    assert info["object_versioning"] == {}


def test_swift_cli_versions(cloud: RunningCloud, tmp_path: Any) -> None:
    name = unique("cli")
    assert run_cli(cloud, "swift", "post", "-H", "X-Versions-Enabled: true", name).returncode == 0
    source = tmp_path / "f.txt"
    for text in ("first", "second"):
        source.write_text(text)
        assert run_cli(cloud, "swift", "upload", "--object-name", "f.txt", name, str(source)).returncode == 0
    listed = run_cli(cloud, "swift", "list", "--versions", name)
    assert listed.returncode == 0, listed.stderr
    ids = [line.split()[3] for line in listed.stdout.splitlines() if line.endswith("f.txt")]
    assert len(ids) == 2, listed.stdout
    stat = run_cli(cloud, "swift", "stat", "--version-id", ids[1], name, "f.txt")
    assert stat.returncode == 0 and "Content Length: 5" in stat.stdout, stat.stdout
    got = run_cli(cloud, "swift", "download", "--version-id", ids[1], "-o", "-", name, "f.txt")
    assert got.stdout == "first"
    assert run_cli(cloud, "swift", "delete", "--version-id", ids[1], name, "f.txt").returncode == 0
    assert "X-Versions-Enabled: True" in run_cli(cloud, "swift", "stat", name).stdout
    deleted = run_cli(cloud, "swift", "delete", "--versions", name)
    assert deleted.returncode == 0, deleted.stderr
    assert run_cli(cloud, "swift", "stat", name).returncode != 0


# ------------------------------------------------------------------------------ legacy modes

@pytest.fixture
def archive(conn: swiftclient.Connection) -> str:
    name = unique("archive")
    conn.put_container(name)
    return name


def archived(conn: swiftclient.Connection, archive: str) -> list[dict[str, Any]]:
    return list(conn.get_container(archive)[1])


def test_stack_mode_archives_and_pops(conn: swiftclient.Connection, container: str, archive: str) -> None:
    conn.post_container(container, headers={"X-Versions-Location": archive})
    assert conn.head_container(container)["x-versions-location"] == archive
    for body in (b"v1", b"v2", b"v3"):
        conn.put_object(container, "k", body, content_type="text/x-v",
                        headers={"X-Object-Meta-Body": body.decode()})
    names = [item["name"] for item in archived(conn, archive)]
    assert len(names) == 2 and all(name.startswith("001k/") and len(name) == 5 + 16 for name in names)
    assert conn.get_object(archive, names[0])[1] == b"v1"
    conn.delete_object(container, "k")
    headers, body = conn.get_object(container, "k")
    assert body == b"v2" and headers["content-type"] == "text/x-v" and headers["x-object-meta-body"] == "v2"
    conn.delete_object(container, "k")
    assert conn.get_object(container, "k")[1] == b"v1" and archived(conn, archive) == []
    conn.delete_object(container, "k")
    with pytest.raises(swiftclient.ClientException) as missing:
        conn.delete_object(container, "k")
    assert missing.value.http_status == 404


def test_history_mode_keeps_everything(conn: swiftclient.Connection, container: str, archive: str) -> None:
    conn.post_container(container, headers={"X-History-Location": archive})
    assert conn.head_container(container)["x-history-location"] == archive
    conn.put_object(container, "k", b"v1")
    conn.put_object(container, "k", b"v2")
    conn.delete_object(container, "k")
    with pytest.raises(swiftclient.ClientException):
        conn.get_object(container, "k")
    listed = archived(conn, archive)
    assert [item["content_type"] for item in listed][-1] == MARKER_TYPE
    assert [conn.get_object(archive, item["name"])[1] for item in listed[:2]] == [b"v1", b"v2"]
    conn.post_container(container, headers={"X-Remove-History-Location": "x"})
    assert "x-history-location" not in conn.head_container(container)


def test_legacy_answers(admin_swift: Swift, container: str, archive: str) -> None:
    both = admin_swift("POST", f"/{container}", headers={"X-Versions-Location": archive,
                                                         "X-History-Location": archive})
    assert (both.status_code, both.text) == (400, "Only one of X-Versions-Location or X-History-Location "
                                                  "may be specified")
    slash = admin_swift("POST", f"/{container}", headers={"X-Versions-Location": "a/b"})
    assert (slash.status_code, slash.text) == (412, "Container name cannot contain slashes")
    admin_swift("POST", f"/{container}", headers={"X-Versions-Location": "no-such-archive"})
    assert admin_swift("PUT", f"/{container}/k", data=b"first").status_code == 201
    assert admin_swift("PUT", f"/{container}/k", data=b"second").status_code == 412
    assert admin_swift("GET", f"/{container}/k").text == "first"
    new_style = admin_swift("POST", f"/{container}", headers=ENABLED)
    assert new_style.status_code == 400 and "legacy versioned writes" in new_style.text
    admin_swift("POST", f"/{container}", headers={"X-Versions-Location": ""})
    assert "X-Versions-Location" not in admin_swift("HEAD", f"/{container}").headers
    assert admin_swift("PUT", f"/{container}/k", data=b"second").status_code == 201


def test_legacy_archive_reached_only_through_write_access(
        admin_swift: Swift, container: str, archive: str, make_user: MakeUser,
        user_swift: Callable[[User, str | None], Swift]) -> None:
    admin_swift("POST", f"/{container}", headers={"X-Versions-Location": archive})
    admin_swift("PUT", f"/{container}/k", data=b"mine")
    writer, stranger = make_user(), make_user()
    grant = {"X-Container-Write": f"{writer.project_id}:{writer.user_id}"}
    admin_swift("POST", f"/{container}", headers=grant)
    as_stranger = user_swift(stranger, admin_swift.account)
    assert as_stranger("PUT", f"/{container}/k", data=b"theirs").status_code == 403
    assert as_stranger("DELETE", f"/{container}/k").status_code == 403
    assert admin_swift("PUT", f"/{container}/k", data=b"anon", token=None).status_code == 401
    assert admin_swift("GET", f"/{archive}?format=json").json() == []
    # A writer of the versioned container archives into the owner's chosen archive, as in Swift.
    as_writer = user_swift(writer, admin_swift.account)
    assert as_writer("PUT", f"/{container}/k", data=b"written").status_code == 201
    assert [item["bytes"] for item in admin_swift("GET", f"/{archive}?format=json").json()] == [4]


def test_info_advertises_versioned_writes(cloud: RunningCloud) -> None:
    info = requests.get(f"{cloud.object_url}/info", timeout=10).json()
    assert info["versioned_writes"] == {"allowed_flags": ["x-versions-location", "x-history-location"]}


# ------------------------------------------------------------------------------ found by tests/compat

def test_copy_reads_the_version_named_by_version_id(
        admin_swift: Swift, versioned: str, make_user: MakeUser,
        user_swift: Callable[[User, str | None], Swift]) -> None:
    """Swift 2.38 applies `?version-id=` of a COPY or a PUT with X-Copy-From to the source, and the
    copy names its own new version; a reader through an ACL may not copy an old version."""
    first = admin_swift("PUT", f"/{versioned}/src", data=b"first").headers["X-Object-Version-Id"]
    admin_swift("PUT", f"/{versioned}/src", data=b"second")
    copied = admin_swift("COPY", f"/{versioned}/src?version-id={first}",
                         headers={"Destination": f"{versioned}/a"})
    assert copied.status_code == 201
    assert copied.headers["X-Object-Version-Id"] not in (first, "null")
    assert admin_swift("GET", f"/{versioned}/a").text == "first"
    put = admin_swift("PUT", f"/{versioned}/b?version-id={first}",
                      headers={"X-Copy-From": f"{versioned}/src"})
    assert put.status_code == 201
    assert admin_swift("GET", f"/{versioned}/b").text == "first"
    plain = admin_swift("PUT", f"/{versioned}/c", headers={"X-Copy-From": f"{versioned}/src"})
    assert "X-Object-Version-Id" in plain.headers
    missing = admin_swift("COPY", f"/{versioned}/src?version-id={'0' * 32}",
                          headers={"Destination": f"{versioned}/d"})
    assert missing.status_code == 404
    reader = make_user()
    acl = {"X-Container-Read": f"{reader.project_id}:{reader.user_id}"}
    admin_swift("POST", f"/{versioned}", headers=acl)
    as_reader = user_swift(reader, None)
    as_reader("PUT", "/mine")
    from_admin = {"X-Copy-From": f"{versioned}/src", "X-Copy-From-Account": admin_swift.account}
    stolen = as_reader("PUT", f"/mine/x?version-id={first}", headers=from_admin)
    assert stolen.status_code == 403
    assert as_reader("PUT", "/mine/y", headers=from_admin).status_code == 201


def test_swift_timestamp_version_ids_are_missing_versions(admin_swift: Swift, versioned: str) -> None:
    """A well-formed Swift version id (a timestamp) that names no version is 404, as in Swift;
    a malformed one stays 400."""
    admin_swift("PUT", f"/{versioned}/k", data=b"x")
    for method in ("GET", "HEAD", "DELETE"):
        assert admin_swift(method, f"/{versioned}/k?version-id=1234567890.12345").status_code == 404
    assert admin_swift("GET", f"/{versioned}/k?version-id=12345.1").status_code == 400


def test_null_version_of_a_never_versioned_container_is_named(admin_swift: Swift, container: str) -> None:
    admin_swift("PUT", f"/{container}/k", data=b"x")
    for method in ("GET", "HEAD"):
        answer = admin_swift(method, f"/{container}/k?version-id=null")
        assert answer.headers["X-Object-Version-Id"] == "null"
    assert "X-Object-Version-Id" not in admin_swift("GET", f"/{container}/k").headers
