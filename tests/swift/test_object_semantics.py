"""Swift object semantics as Swift 2.38 answers them (checked against the reference cloud): swob's
conditional-request order and Range syntax, shared with S3 in objecthttp.py."""

from __future__ import annotations

import swiftclient

from swift.helpers import Swift

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
