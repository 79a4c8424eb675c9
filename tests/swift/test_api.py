"""The Swift API through python-swiftclient and raw HTTP: CRUD, listings, metadata, ranges,
conditionals, copies, expiry, /info and Swift's error statuses."""

from __future__ import annotations

import hashlib
import http.client
import time

import pytest
import requests
import swiftclient

from cloud import RunningCloud
from swift.helpers import Swift, unique


def test_healthcheck_and_info(cloud: RunningCloud) -> None:
    health = requests.get(f"{cloud.object_url}/healthcheck", timeout=10)
    assert (health.status_code, health.text) == (200, "OK")
    assert health.headers["X-Trans-Id"].startswith("tx")
    info = requests.get(f"{cloud.object_url}/info", timeout=10).json()
    assert info["swift"]["max_file_size"] == 5368709122
    assert info["swift"]["container_listing_limit"] == 10000
    assert info["tempurl"]["allowed_digests"] == ["sha256", "sha512"]
    assert {"slo", "bulk_delete", "bulk_upload", "formpost"} <= set(info)


def test_container_put_is_201_then_202(admin_swift: Swift) -> None:
    name = unique("c")
    first = admin_swift("PUT", f"/{name}")
    second = admin_swift("PUT", f"/{name}")
    assert first.status_code == 201
    assert second.status_code == 202
    assert "<h1>Accepted</h1>" in second.text
    assert first.headers["X-Openstack-Request-Id"] == first.headers["X-Trans-Id"]
    assert admin_swift("DELETE", f"/{name}").status_code == 204
    assert admin_swift("DELETE", f"/{name}").status_code == 404


def test_object_round_trip_with_metadata(conn: swiftclient.Connection, container: str) -> None:
    etag = conn.put_object(container, "hello.txt", b"hello swift\n", content_type="text/plain",
                           headers={"X-Object-Meta-Color": "blue"})
    assert etag == hashlib.md5(b"hello swift\n").hexdigest()
    headers, body = conn.get_object(container, "hello.txt")
    assert body == b"hello swift\n"
    assert headers["content-type"] == "text/plain"
    assert headers["x-object-meta-color"] == "blue"
    assert headers["etag"] == etag
    assert headers["accept-ranges"] == "bytes"
    assert float(headers["x-timestamp"]) == pytest.approx(time.time(), abs=60)
    conn.post_object(container, "hello.txt", headers={"X-Object-Meta-Size": "large"})
    after = conn.head_object(container, "hello.txt")
    assert after["x-object-meta-size"] == "large"
    assert "x-object-meta-color" not in after  # Swift's POST replaces all user metadata
    conn.delete_object(container, "hello.txt")
    with pytest.raises(swiftclient.ClientException) as missing:
        conn.head_object(container, "hello.txt")
    assert missing.value.http_status == 404


def test_counts_and_container_metadata(conn: swiftclient.Connection, container: str) -> None:
    conn.put_object(container, "a", b"12345")
    conn.put_object(container, "b", b"123")
    conn.post_container(container, headers={"X-Container-Meta-Owner": "ops"})
    headers = conn.head_container(container)
    assert (headers["x-container-object-count"], headers["x-container-bytes-used"]) == ("2", "8")
    assert headers["x-container-meta-owner"] == "ops"
    assert headers["x-storage-policy"] == "Policy-0"
    conn.post_container(container, headers={"X-Remove-Container-Meta-Owner": "x"})
    assert "x-container-meta-owner" not in conn.head_container(container)
    account = conn.head_account()
    assert int(account["x-account-object-count"]) >= 2
    assert "x-account-storage-policy-policy-0-bytes-used" in account


def test_account_metadata(conn: swiftclient.Connection) -> None:
    conn.post_account({"X-Account-Meta-Team": "storage"})
    assert conn.head_account()["x-account-meta-team"] == "storage"
    conn.post_account({"X-Account-Meta-Team": ""})
    assert "x-account-meta-team" not in conn.head_account()


def test_listing_parameters(conn: swiftclient.Connection, container: str) -> None:
    for name in ("a/1", "a/2", "b/1", "c", "d"):
        conn.put_object(container, name, b"x")
    names = [e.get("name") or e.get("subdir") for e in conn.get_container(container, delimiter="/")[1]]
    assert names == ["a/", "b/", "c", "d"]
    assert [e["name"] for e in conn.get_container(container, prefix="a/")[1]] == ["a/1", "a/2"]
    assert [e["name"] for e in conn.get_container(container, marker="b/1", end_marker="d")[1]] == ["c"]
    assert [e["name"] for e in conn.get_container(container, limit=2)[1]] == ["a/1", "a/2"]
    reverse = conn.get_container(container, query_string="reverse=on")[1]
    assert [e["name"] for e in reverse] == ["d", "c", "b/1", "a/2", "a/1"]


def test_listing_formats(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    conn.put_object(container, "x&y", b"data", content_type="text/plain")
    plain = admin_swift("GET", f"/{container}")
    assert plain.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert plain.text == "x&y\n"
    xml = admin_swift("GET", f"/{container}?format=xml")
    assert xml.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert "<name>x&amp;y</name>" in xml.text and xml.text.startswith("<?xml")
    by_accept = admin_swift("GET", f"/{container}", headers={"Accept": "application/json"})
    entry = by_accept.json()[0]
    assert entry["hash"] == hashlib.md5(b"data").hexdigest()
    assert entry["bytes"] == 4 and entry["content_type"] == "text/plain"
    assert len(entry["last_modified"]) == len("2026-11-29T01:57:34.805120")


def test_empty_listings(admin_swift: Swift, container: str) -> None:
    assert admin_swift("GET", f"/{container}").status_code == 204
    as_json = admin_swift("GET", f"/{container}?format=json")
    assert (as_json.status_code, as_json.text) == (200, "[]")
    too_many = admin_swift("GET", f"/{container}?limit=10001")
    assert (too_many.status_code, too_many.text) == (412, "Maximum limit is 10000")


def test_ranges(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    data = bytes(range(256)) * 4
    conn.put_object(container, "r", data)
    single = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=10-19"})
    assert (single.status_code, single.content) == (206, data[10:20])
    assert single.headers["Content-Range"] == "bytes 10-19/1024"
    suffix = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=-4"})
    assert suffix.content == data[-4:]
    multi = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=0-1,100-102"})
    assert multi.status_code == 206
    assert multi.headers["Content-Type"].startswith("multipart/byteranges;boundary=")
    assert b"Content-Range: bytes 0-1/1024" in multi.content
    assert data[100:103] in multi.content
    assert int(multi.headers["Content-Length"]) == len(multi.content)
    beyond = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=5000-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == "bytes */1024"
    malformed = admin_swift("GET", f"/{container}/r", headers={"Range": "bytes=z-1"})
    assert (malformed.status_code, len(malformed.content)) == (200, 1024)


def test_conditional_requests(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    etag = conn.put_object(container, "cond", b"v1")
    path = f"/{container}/cond"
    assert admin_swift("GET", path, headers={"If-None-Match": etag}).status_code == 304
    assert admin_swift("GET", path, headers={"If-Match": "nope"}).status_code == 412
    assert admin_swift("GET", path, headers={"If-Match": f'"{etag}"'}).status_code == 200
    last_modified = admin_swift("HEAD", path).headers["Last-Modified"]
    assert admin_swift("GET", path, headers={"If-Modified-Since": last_modified}).status_code == 304
    again = admin_swift("PUT", path, data=b"v2", headers={"If-None-Match": "*"})
    assert again.status_code == 412
    fresh = admin_swift("PUT", f"/{container}/fresh", data=b"v", headers={"If-None-Match": "*"})
    assert fresh.status_code == 201
    assert admin_swift("PUT", path, data=b"v", headers={"If-None-Match": etag}).status_code == 400


def test_copy_and_copy_from(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    conn.put_object(container, "src", b"copy me", content_type="text/x-src", headers={"X-Object-Meta-A": "1"})
    copied = admin_swift("COPY", f"/{container}/src", headers={"Destination": f"{container}/dst",
                                                                "X-Object-Meta-B": "2"})
    assert copied.status_code == 201
    assert copied.headers["X-Copied-From"] == f"{container}/src"
    headers, body = conn.get_object(container, "dst")
    assert body == b"copy me"
    assert (headers["x-object-meta-a"], headers["x-object-meta-b"]) == ("1", "2")
    assert headers["content-type"] == "text/x-src"
    fresh = admin_swift("PUT", f"/{container}/dst2", headers={"X-Copy-From": f"/{container}/src",
                                                               "X-Fresh-Metadata": "true",
                                                               "Content-Length": "0"})
    assert fresh.status_code == 201
    assert "x-object-meta-a" not in conn.head_object(container, "dst2")
    assert admin_swift("COPY", f"/{container}/src").status_code == 412
    missing = admin_swift("PUT", f"/{container}/d3", headers={"X-Copy-From": f"/{container}/nope"})
    assert missing.status_code == 404


def test_expiry(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    # Stored an hour ahead (a HEAD on a loaded machine still finds it), then a POST brings the
    # deadline to a second from now: waiting past it is certain, however slow the machine.
    conn.put_object(container, "soon", b"x", headers={"X-Delete-After": "3600"})
    head = conn.head_object(container, "soon")
    assert int(head["x-delete-at"]) == pytest.approx(time.time() + 3600, abs=30)
    conn.post_object(container, "soon", headers={"X-Delete-After": "1"})
    time.sleep(2.1)
    assert admin_swift("GET", f"/{container}/soon").status_code == 404
    assert conn.get_container(container)[1] == []
    past = admin_swift("PUT", f"/{container}/late", data=b"x", headers={"X-Delete-At": "1000"})
    assert (past.status_code, past.text) == (400, "X-Delete-At in past")
    bad = admin_swift("PUT", f"/{container}/late", data=b"x", headers={"X-Delete-After": "soon"})
    assert (bad.status_code, bad.text) == (400, "Non-integer X-Delete-After")


def test_chunked_upload(conn: swiftclient.Connection, container: str) -> None:
    chunks = iter([b"part one, ", b"part two"])
    etag = conn.put_object(container, "chunked", contents=chunks)
    assert etag == hashlib.md5(b"part one, part two").hexdigest()
    assert conn.get_object(container, "chunked")[1] == b"part one, part two"


def _put_without_length(cloud: RunningCloud, path: str, token: str | None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", cloud.object_port, timeout=10)
    try:
        connection.putrequest("PUT", path)
        connection.putheader("X-Auth-Token", str(token))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_bad_input_statuses(cloud: RunningCloud, admin_swift: Swift, container: str) -> None:
    assert _put_without_length(cloud, f"/v1/{admin_swift.account}/{container}/obj", admin_swift.token) == 411
    mismatch = admin_swift("PUT", f"/{container}/obj", data=b"abc", headers={"Etag": "0" * 32})
    assert mismatch.status_code == 422
    assert "<h1>Unprocessable Entity</h1>" in mismatch.text
    too_large = admin_swift("PUT", f"/{container}/big", headers={"Content-Length": str(6 * 1024**3)})
    assert too_large.status_code == 413
    long_meta = admin_swift("PUT", f"/{container}/obj", data=b"x", headers={"X-Object-Meta-A": "v" * 257})
    assert (long_meta.status_code, long_meta.text) == (400, "Metadata value longer than 256: x-object-meta-A")
    long_name = admin_swift("PUT", f"/{container}/{'n' * 1025}", data=b"x")
    assert long_name.status_code == 400
    assert admin_swift("GET", f"/{container}/absent").status_code == 404
    admin_swift("PUT", f"/{container}/obj", data=b"x")
    conflict = admin_swift("DELETE", f"/{container}")
    assert (conflict.status_code, "<h1>Conflict</h1>" in conflict.text) == (409, True)
    assert admin_swift("PATCH", f"/{container}/obj").status_code == 405


def test_unauthorized_and_bad_token(admin_swift: Swift, container: str) -> None:
    anonymous = admin_swift("GET", f"/{container}", token=None)
    assert anonymous.status_code == 401
    keystone = admin_swift.cloud.identity_root
    challenge = f'Swift realm="{admin_swift.account}", Keystone uri="{keystone}"'
    assert anonymous.headers["Www-Authenticate"] == challenge
    assert "<h1>Unauthorized</h1>" in anonymous.text
    assert admin_swift("GET", f"/{container}", token="bogus").status_code == 401
