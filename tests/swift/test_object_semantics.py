"""Swift object semantics as Swift 2.38 answers them (checked against the reference cloud): swob's
conditional-request order and Range syntax, shared with S3 in objecthttp.py."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import swiftclient

from swift.conftest import MakeUser
from swift.helpers import Swift

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
