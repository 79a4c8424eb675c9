"""Swift object semantics as Swift 2.38 answers them (checked against the reference cloud): swob's
conditional-request order and Range syntax, shared with S3 in objecthttp.py."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests
import swiftclient

from cloud import RunningCloud
from swift.conftest import MakeUser
from swift.helpers import Swift, run_cli

UserSwift = Callable[..., Swift]

OLD = "Mon, 01 Jan 2001 00:00:00 GMT"


def test_conditionals_in_swob_order(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    etag = conn.put_object(container, "o", b"0123456789")
    path = f"/{container}/o"
    modified = admin_swift("HEAD", path).headers["Last-Modified"]

    def status(**headers: str) -> int:
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        return admin_swift("GET", path, headers=sent).status_code

    # swob tests If-None-Match first, then If-Match, If-Modified-Since, If-Unmodified-Since, each on its own.
    assert status(If_Match="nope", If_None_Match=etag) == 304
    assert status(If_None_Match="nope", If_Modified_Since=modified) == 304
    assert status(If_Modified_Since=modified, If_Unmodified_Since=OLD) == 304
    assert status(If_Match=etag, If_Unmodified_Since=OLD) == 412
    assert status(If_Match="nope", If_Modified_Since=modified) == 412
    assert status(If_Match=f"W/{etag}") == 412  # no weak comparison in Swift
    assert status(If_Match=f'"{etag}"', If_Unmodified_Since=modified) == 200


def test_range_syntax_as_swob_reads_it(admin_swift: Swift, conn: swiftclient.Connection,
                                       container: str) -> None:
    conn.put_object(container, "o", b"0123456789")
    spaced = admin_swift("GET", f"/{container}/o", headers={"Range": "bytes = 1 - 2"})
    assert (spaced.status_code, spaced.content) == (206, b"12")
    assert spaced.headers["Content-Range"] == "bytes 1-2/10"
    upper = admin_swift("GET", f"/{container}/o", headers={"Range": "BYTES=1-2, 4-5"})
    assert upper.status_code == 206 and upper.headers["Content-Type"].startswith("multipart/byteranges")
    assert b"Content-Range: bytes 4-5/10\r\n\r\n45\r\n" in upper.content
    no_dash = admin_swift("GET", f"/{container}/o", headers={"Range": "bytes=1-2,4"})
    assert (no_dash.status_code, no_dash.content) == (200, b"0123456789")


def test_ranges_of_an_empty_object(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    conn.put_object(container, "empty", b"")
    suffix = admin_swift("GET", f"/{container}/empty", headers={"Range": "bytes=-5"})
    assert (suffix.status_code, suffix.content) == (200, b"")
    start = admin_swift("GET", f"/{container}/empty", headers={"Range": "bytes=0-"})
    assert (start.status_code, start.headers["Content-Range"]) == (416, "bytes */0")


def _segments(conn: swiftclient.Connection, container: str) -> None:
    conn.put_object(container, "seg/a", b"a" * 5)
    conn.put_object(container, "seg/b", b"b" * 7)


def test_slo_inline_data_segments(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    _segments(conn, container)
    manifest = [{"data": base64.b64encode(b"head ").decode()}, {"path": f"{container}/seg/a"},
                {"data": "IQ==="}]  # extra padding is accepted and dropped, as Swift does
    conn.put_object(container, "slo", json.dumps(manifest), query_string="multipart-manifest=put")
    headers, body = conn.get_object(container, "slo")
    assert body == b"head aaaaa!"
    etags = "".join(hashlib.md5(data).hexdigest() for data in (b"head ", b"aaaaa", b"!"))
    assert headers["etag"] == f'"{hashlib.md5(etags.encode()).hexdigest()}"'
    assert conn.get_object(container, "slo", headers={"Range": "bytes=3-7"})[1] == b"d aaa"
    stored = admin_swift("GET", f"/{container}/slo?multipart-manifest=get").json()
    assert stored[0] == {"data": "aGVhZCA="} and stored[2] == {"data": "IQ=="}
    raw = admin_swift("GET", f"/{container}/slo?multipart-manifest=get&format=raw").json()
    assert raw[2] == {"data": "IQ=="} and raw[1]["path"] == f"/{container}/seg/a"


def test_slo_manifest_refusals(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    _segments(conn, container)

    def put(name: str, manifest: list[dict[str, object]]) -> tuple[int, str]:
        answer = admin_swift("PUT", f"/{container}/{name}?multipart-manifest=put",
                             data=json.dumps(manifest).encode())
        return answer.status_code, answer.text

    data_only = put("d", [{"data": "aGk="}])
    assert data_only == (400, "Inline data segments require at least one object-backed segment.\n")
    several = put("d", [{"data": "IQ"}, {"data": ""}, {"data": "aGk=", "range": "0-0"},
                        {"path": f"{container}/seg/a"}])
    assert several == (400, "Index 0: data must be valid base64\n"
                            "Index 1: too small; each segment must be at least 1 byte.\n"
                            'Index 2: extraneous keys "range"\n')
    # A manifest naming its own path (here: the segment it would overwrite) is refused; the segment survives.
    itself = put("seg/b", [{"path": f"{container}/seg/a"}, {"path": f"/{container}/seg/b"}])
    assert itself == (400, "Index 1: manifest must not include itself as a segment\n")
    assert conn.get_object(container, "seg/b")[1] == b"b" * 7


def test_part_number_of_an_slo(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    _segments(conn, container)
    manifest = [{"path": f"{container}/seg/a"}, {"path": f"{container}/seg/b", "range": "1-3"},
                {"data": "IQ=="}]
    conn.put_object(container, "slo", json.dumps(manifest), query_string="multipart-manifest=put")
    headers, body = conn.get_object(container, "slo", query_string="part-number=2")
    assert (body, headers["content-range"], headers["x-parts-count"]) == (b"bbb", "bytes 5-7/9", "3")
    head = admin_swift("HEAD", f"/{container}/slo?part-number=3")
    assert (head.status_code, head.headers["Content-Length"], head.headers["Content-Range"]) == (
        206, "1", "bytes 8-8/9")
    beyond = admin_swift("GET", f"/{container}/slo?part-number=4")
    assert (beyond.status_code, beyond.text) == (416, "The requested part number is not satisfiable")
    assert beyond.headers["Content-Range"] == "bytes */9"
    assert admin_swift("GET", f"/{container}/slo?part-number=0").status_code == 400
    head_bad = admin_swift("HEAD", f"/{container}/slo?part-number=x")
    assert (head_bad.status_code, head_bad.headers["Content-Length"], head_bad.content) == (400, "45", b"")
    with_range = admin_swift("GET", f"/{container}/slo?part-number=1", headers={"Range": "bytes=0-1"})
    assert (with_range.status_code, with_range.text) == (
        400, "Range requests are not supported with part number queries")
    plain = admin_swift("GET", f"/{container}/seg/a?part-number=9")  # not a large object: ignored
    assert (plain.status_code, plain.content) == (200, b"a" * 5)


def test_part_number_needs_read_access_to_the_segments(make_user: MakeUser, user_swift: UserSwift,
                                                       admin_swift: Swift, conn: swiftclient.Connection,
                                                       container: str) -> None:
    reader = make_user("member")
    public = f"{container}-pub"
    conn.put_container(public, headers={"X-Container-Read": f"{reader.project_id}:*"})
    _segments(conn, container)
    manifest = [{"path": f"{container}/seg/a"}]
    conn.put_object(public, "slo", json.dumps(manifest), query_string="multipart-manifest=put")
    attacker = user_swift(reader, admin_swift.account)
    answer = attacker("GET", f"/{public}/slo?part-number=1")
    assert (answer.status_code, b"aaaaa" in answer.content) == (409, False)
    conn.delete_object(public, "slo")
    conn.delete_container(public)


def test_dlo_prefix_is_url_unquoted_utf8(cloud: RunningCloud, conn: swiftclient.Connection, container: str,
                                         tmp_path: Path) -> None:
    for name, data in (("p x/\u00e91", b"aaaa"), ("p x/\u00e92", b"bbbb"), ("p x/\u00e93", b"cc")):
        conn.put_object(container, name, data)
    # Raw UTF-8 (as python-swiftclient sends a str header) or percent-encoded: the same prefix.
    conn.put_object(container, "dlo-raw", b"", headers={"X-Object-Manifest": f"{container}/p x/\u00e9"})
    conn.put_object(container, "dlo-quoted", b"", headers={"X-Object-Manifest": f"{container}/p%20x/%C3%A9"})
    for name in ("dlo-raw", "dlo-quoted"):
        assert conn.get_object(container, name)[1] == b"aaaabbbbcc"
    out = tmp_path / "dlo.bin"
    downloaded = run_cli(cloud, "swift", "download", container, "dlo-quoted", "-o", str(out))
    assert downloaded.returncode == 0 and out.read_bytes() == b"aaaabbbbcc"


def test_dlo_ranges_as_swift(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    for name, data in (("s/1", b"aaaa"), ("s/2", b"bbbb"), ("s/3", b"cc")):
        conn.put_object(container, name, data)
    conn.put_object(container, "dlo", b"", headers={"X-Object-Manifest": f"{container}/s/"})
    one = admin_swift("GET", f"/{container}/dlo", headers={"Range": "bytes=2-5"})
    assert (one.status_code, one.content, one.headers["Content-Range"]) == (206, b"aabb", "bytes 2-5/10")
    several = admin_swift("GET", f"/{container}/dlo", headers={"Range": "bytes=0-1,5-6"})
    assert (several.status_code, several.content) == (200, b"aaaabbbbcc")  # a DLO serves one range
    beyond = admin_swift("GET", f"/{container}/dlo", headers={"Range": "bytes=20-"})
    assert (beyond.status_code, beyond.headers["Content-Range"]) == (416, "bytes */10")
    assert "X-Object-Manifest" not in beyond.headers and "Etag" not in beyond.headers
    refused = admin_swift("PUT", f"/{container}/bad", headers={"X-Object-Manifest": f"{container}/"})
    assert (refused.status_code, refused.text) == (
        400, "X-Object-Manifest must be in the format container/prefix")


def test_post_adds_and_removes_a_dlo_manifest(admin_swift: Swift, conn: swiftclient.Connection,
                                              container: str) -> None:
    conn.put_object(container, "s/1", b"segment")
    conn.put_object(container, "obj", b"own data")
    conn.post_object(container, "obj", headers={"X-Object-Manifest": f"{container}/s/"})
    headers, body = conn.get_object(container, "obj")
    assert (body, headers["x-object-manifest"]) == (b"segment", f"{container}/s/")
    conn.post_object(container, "obj", headers={"X-Object-Meta-A": "b"})  # no manifest: plain again
    headers, body = conn.get_object(container, "obj")
    assert (body, headers.get("x-object-manifest"), headers["x-object-meta-a"]) == (b"own data", None, "b")


def test_post_rewrites_the_timestamp(conn: swiftclient.Connection, container: str) -> None:
    conn.put_object(container, "obj", b"data")
    before = conn.head_object(container, "obj")
    time.sleep(1.05)
    conn.post_object(container, "obj", headers={"X-Object-Meta-A": "b"})
    after = conn.head_object(container, "obj")
    assert float(after["x-timestamp"]) > float(before["x-timestamp"])
    assert parsedate_to_datetime(after["last-modified"]) > parsedate_to_datetime(before["last-modified"])
    listed = conn.get_container(container)[1][0]["last_modified"]
    assert listed.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(float(after["x-timestamp"]))))


def test_copy_honours_range(cloud: RunningCloud, admin_swift: Swift, conn: swiftclient.Connection,
                            container: str) -> None:
    conn.put_object(container, "src", b"0123456789", content_type="text/x-src")
    copied = admin_swift("COPY", f"/{container}/src", headers={"Destination": f"{container}/dst",
                                                                "Range": "bytes=2-4"})
    assert copied.status_code == 201 and copied.headers["Etag"] == hashlib.md5(b"234").hexdigest()
    headers, body = conn.get_object(container, "dst")
    assert (body, headers["content-type"]) == (b"234", "text/x-src")
    conn.put_object(container, "dst2", None, headers={"X-Copy-From": f"{container}/src", "Range": "bytes=-3"})
    assert conn.get_object(container, "dst2")[1] == b"789"
    beyond = admin_swift("COPY", f"/{container}/src", headers={"Destination": f"{container}/dst3",
                                                                "Range": "bytes=20-"})
    assert (beyond.status_code, beyond.headers["Content-Range"]) == (416, "bytes */10")
    several = admin_swift("COPY", f"/{container}/src", headers={"Destination": f"{container}/dst4",
                                                                 "Range": "bytes=0-1,3-4"})
    assert several.status_code == 400
    for name in ("dst3", "dst4"):
        assert admin_swift("HEAD", f"/{container}/{name}").status_code == 404
    # The `swift` CLI's copy passes headers through.
    done = run_cli(cloud, "swift", "copy", container, "src", "-d", f"/{container}/dst5",
                   "-H", "Range: bytes=0-0")
    assert done.returncode == 0, done.stderr
    assert conn.get_object(container, "dst5")[1] == b"0"


def test_copy_range_reads_as_the_requester(make_user: MakeUser, user_swift: UserSwift, admin_swift: Swift,
                                           conn: swiftclient.Connection, container: str) -> None:
    writer = make_user("member")
    drop = f"{container}-drop"
    conn.put_container(drop, headers={"X-Container-Write": f"{writer.project_id}:*"})
    conn.put_object(container, "secret", b"top secret data")
    attacker = user_swift(writer, admin_swift.account)
    answer = attacker("PUT", f"/{drop}/loot", headers={"X-Copy-From": f"{container}/secret",
                                                       "Range": "bytes=0-2", "Content-Length": "0"})
    assert answer.status_code == 403
    assert admin_swift("HEAD", f"/{drop}/loot").status_code == 404
    conn.delete_container(drop)


def test_listings_show_utf8_content_types(admin_swift: Swift, container: str) -> None:
    raw = "text/plain; name=\u00e9t\u00e9".encode()
    answer = requests.put(f"{admin_swift.url}/{container}/o", data=b"x", timeout=30,
                          headers={"X-Auth-Token": admin_swift.token or "", "Content-Type": raw,
                                   "X-Object-Meta-Who": "J\u00fcrgen \u2603".encode()})
    assert answer.status_code == 201
    head = admin_swift("HEAD", f"/{container}/o")
    assert head.headers["Content-Type"].encode("latin-1") == raw  # the header comes back byte for byte
    assert head.headers["X-Object-Meta-Who"].encode("latin-1").decode() == "J\u00fcrgen \u2603"
    listed = admin_swift("GET", f"/{container}?format=json").json()[0]
    assert listed["content_type"] == "text/plain;name=\u00e9t\u00e9"
    assert "<content_type>text/plain;name=\u00e9t\u00e9</content_type>" in admin_swift(
        "GET", f"/{container}?format=xml").content.decode()


def test_an_slo_counts_its_manifest_in_bytes_used(admin_swift: Swift, conn: swiftclient.Connection,
                                                  container: str) -> None:
    segments = f"{container}-seg"
    conn.put_container(segments)
    conn.put_object(segments, "a", b"a" * 1000)
    conn.put_object(container, "slo", json.dumps([{"path": f"{segments}/a"}]),
                    query_string="multipart-manifest=put")
    document = admin_swift("GET", f"/{container}/slo?multipart-manifest=get").content
    assert int(conn.head_container(container)["x-container-bytes-used"]) == len(document)
    assert int(conn.head_container(segments)["x-container-bytes-used"]) == 1000
    assert conn.get_container(container)[1][0]["bytes"] == 1000  # the listing shows the data's size
    conn.delete_object(container, "slo")
    assert int(conn.head_container(container)["x-container-bytes-used"]) == 0
    conn.delete_object(segments, "a")
    conn.delete_container(segments)


def _raw_request(cloud: RunningCloud, swift: Swift, method: str, path: bytes, body: bytes = b"") -> bytes:
    """One request with the path's bytes as given (raw UTF-8), which HTTP libraries would escape."""
    with socket.create_connection(("127.0.0.1", cloud.object_port), timeout=30) as sock:
        sock.sendall(method.encode() + b" /v1/" + swift.account.encode() + path + b" HTTP/1.1\r\nHost: x\r\n"
                     b"X-Auth-Token: " + (swift.token or "").encode() + b"\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.single_node("HAProxy refuses raw non-ASCII bytes in a request line; clients percent-encode")
def test_raw_utf8_in_the_request_line(cloud: RunningCloud, admin_swift: Swift, conn: swiftclient.Connection,
                                      container: str) -> None:
    made = _raw_request(cloud, admin_swift, "PUT", f"/{container}/\u00e9t\u00e9%20x".encode(), b"hi")
    assert made.startswith(b"HTTP/1.1 201")
    assert conn.get_object(container, "\u00e9t\u00e9 x")[1] == b"hi"
    read = _raw_request(cloud, admin_swift, "GET", f"/{container}/\u00e9t\u00e9%20x".encode())
    assert read.startswith(b"HTTP/1.1 200") and read.endswith(b"\r\n\r\nhi")
    invalid = _raw_request(cloud, admin_swift, "PUT", f"/{container}/".encode() + b"\xff\xfe", b"x")
    assert invalid.startswith(b"HTTP/1.1 412") and invalid.endswith(b"Invalid UTF8 or contains NULL")
