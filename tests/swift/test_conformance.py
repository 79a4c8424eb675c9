"""What clients see byte for byte, as captured from Swift 2.38: listing bodies, error shapes and
headers, large-object manifests, bulk reports, temp URL answers."""

from __future__ import annotations

import hashlib
import json
import time

import swiftclient

from swift.helpers import Swift, unique


def test_listing_bodies_match_swift(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    empty = admin_swift("GET", f"/{container}?format=xml")
    assert empty.text == f'<?xml version="1.0" encoding="UTF-8"?>\n<container name="{container}" />'
    conn.put_object(container, "dir/ü", b"x", content_type="text/plain")
    conn.put_object(container, "top", b"y", content_type="text/plain")
    listing = admin_swift("GET", f"/{container}?format=json&delimiter=/").content
    assert listing.startswith(b'[{"subdir": "dir/"}, {"bytes": 1, "hash": "')
    assert b'"last_modified": "' in listing
    escaped = admin_swift("GET", f"/{container}?format=json&prefix=dir/").content
    assert b'"name": "dir/\\u00fc"' in escaped
    assert admin_swift("GET", f"/{container}?path=dir").text == "dir/ü\n"
    assert admin_swift("GET", f"/{container}?limit=-1").text == "dir/ü\ntop\n"
    xml = admin_swift("GET", f"/{container}", headers={"Accept": "text/xml"})
    assert xml.headers["Content-Type"] == "text/xml; charset=utf-8"
    too_many = admin_swift("GET", f"/{container}?limit=10001")
    assert (too_many.status_code, too_many.text) == (412, "Maximum limit is 10000")
    assert too_many.headers["Content-Type"] == "text/html; charset=UTF-8"


def test_account_listing_xml_lines(admin_swift: Swift, container: str) -> None:
    body = admin_swift("GET", f"?format=xml&prefix={container}").text
    lines = body.split("\n")
    assert lines[1] == f'<account name="{admin_swift.account}">'
    assert lines[2].startswith(f"<container><name>{container}</name><count>0</count>")
    assert lines[2].endswith("<storage_policy>Policy-0</storage_policy></container>")
    assert lines[3] == "</account>"
    head = admin_swift("HEAD")
    # Content-Type leads (after the server's Date), as in Swift: `swift stat` prints in this order.
    assert [name.lower() for name in head.headers][:2] == ["date", "content-type"]
    assert head.headers["X-Account-Project-Domain-Id"] == "default"


def test_error_shapes(admin_swift: Swift, container: str) -> None:
    missing = admin_swift("HEAD", f"/{container}/absent")
    assert (missing.status_code, missing.headers["Content-Length"]) == (404, "0")
    meta = admin_swift("POST", f"/{container}", headers={"X-Container-Meta-" + "a" * 129: "v"})
    assert meta.text == "Metadata name too long: x-container-meta-A" + "a" * 128
    acl = admin_swift("POST", f"/{container}", headers={"X-Container-Read": ".x:y"})
    assert (acl.status_code, acl.text) == (400, "Unknown designator '.x' in ACL: '.x:y'")
    assert acl.headers["Content-Type"] == "text/html; charset=UTF-8"
    admin_swift("PUT", f"/{container}/o", data=b"data")
    copy = admin_swift("COPY", f"/{container}/o")
    assert (copy.status_code, copy.text) == (412, "Destination header required")
    patch = admin_swift("PATCH", f"/{container}/o")
    assert patch.headers["Allow"] == "DELETE, HEAD, POST, PUT, GET, OPTIONS"
    assert admin_swift("PUT").status_code == 202
    assert admin_swift("DELETE").status_code == 403


def test_conditional_and_range_headers(admin_swift: Swift, container: str) -> None:
    admin_swift("PUT", f"/{container}/o", data=b"hello world", headers={"Content-Type": "text/x",
                                                                        "X-Object-Meta-K": "v"})
    etag = hashlib.md5(b"hello world").hexdigest()
    not_modified = admin_swift("GET", f"/{container}/o", headers={"If-None-Match": etag})
    assert (not_modified.status_code, not_modified.headers["Content-Type"]) == (304, "text/x")
    failed = admin_swift("GET", f"/{container}/o", headers={"If-Match": "other"})
    assert (failed.status_code, failed.content, failed.headers["Etag"]) == (412, b"", etag)
    assert failed.headers["X-Object-Meta-K"] == "v"
    unsatisfiable = admin_swift("GET", f"/{container}/o", headers={"Range": "bytes=50-60"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["Content-Type"] == "text/x"
    assert unsatisfiable.headers["Content-Range"] == "bytes */11"
    head = admin_swift("HEAD", f"/{container}/o", headers={"Range": "bytes=0-1"})
    assert (head.status_code, head.headers["Content-Length"]) == (200, "11")
    copied = admin_swift("PUT", f"/{container}/c", headers={"X-Copy-From": f"{container}/o",
                                                             "X-Object-Meta-Extra": "e"})
    assert (copied.headers["X-Object-Meta-K"], copied.headers["X-Object-Meta-Extra"]) == ("v", "e")


def _segments(admin_swift: Swift, container: str) -> list[dict[str, object]]:
    for name, data in (("s0", b"a" * 10), ("s1", b"b" * 10)):
        admin_swift("PUT", f"/{container}/{name}", data=data)
    return [{"path": f"/{container}/s0", "range": "2-4"}, {"path": f"/{container}/s1", "range": "-3"}]


def test_slo_manifest_as_swift_returns_it(admin_swift: Swift, container: str) -> None:
    put = admin_swift("PUT", f"/{container}/slo?multipart-manifest=put",
                      data=json.dumps(_segments(admin_swift, container)))
    assert put.status_code == 201
    assert admin_swift("GET", f"/{container}/slo").content == b"aaabbb"
    assert admin_swift("GET", f"/{container}/slo", headers={"Range": "bytes=-4"}).content == b"abbb"
    manifest = admin_swift("GET", f"/{container}/slo?multipart-manifest=get")
    entries = manifest.json()
    assert [list(entry) for entry in entries] == [
        ["name", "bytes", "hash", "content_type", "last_modified", "range"]] * 2
    assert [entry["range"] for entry in entries] == ["2-4", "7-9"]
    assert entries[0]["last_modified"].endswith(".000000")
    manifest_md5 = hashlib.md5(manifest.content).hexdigest()
    assert manifest.headers["Etag"] == manifest_md5
    assert admin_swift("HEAD", f"/{container}/slo").headers["X-Manifest-Etag"] == manifest_md5
    raw = admin_swift("GET", f"/{container}/slo?multipart-manifest=get&format=raw")
    assert raw.headers["Content-Type"] == "application/octet-stream"
    assert list(raw.json()[0]) == ["etag", "path", "range", "size_bytes"]
    listed = admin_swift("GET", f"/{container}?format=json&prefix=slo").json()[0]
    assert listed["slo_etag"] == put.headers["Etag"]


def test_slo_manifest_errors(admin_swift: Swift, container: str) -> None:
    _segments(admin_swift, container)
    url = f"/{container}/bad?multipart-manifest=put"
    extra = admin_swift("PUT", url, data=json.dumps([{"path": f"/{container}/s0", "foo": 1}]))
    assert (extra.status_code, extra.text) == (400, 'Index 0: extraneous keys "foo"\n')
    path = admin_swift("PUT", url, data=json.dumps([{"path": "nocontainer"}]))
    assert path.text.startswith("Index 0: path does not refer to an object.")
    missing = admin_swift("PUT", url, data=json.dumps([{"path": f"/{container}/nope"}]))
    assert missing.text == f"Errors:\n/{container}/nope, 404 Not Found\n"
    bad_json = admin_swift("PUT", url, data=b"{nope")
    assert bad_json.headers["Content-Type"] == "text/html; charset=UTF-8"
    not_slo = admin_swift("DELETE", f"/{container}/s0?multipart-manifest=delete")
    assert not_slo.status_code == 200
    assert not_slo.text.endswith(f"Errors:\n/{container}/s0, Not an SLO manifest\n")


def test_dlo_post_repoints_manifest(admin_swift: Swift, container: str) -> None:
    for name in ("a/1", "b/1"):
        admin_swift("PUT", f"/{container}/{name}", data=name.encode())
    put = admin_swift("PUT", f"/{container}/dlo", data=b"", headers={"X-Object-Manifest": f"{container}/a/"})
    assert put.headers["Etag"] == hashlib.md5(b"").hexdigest()
    post = admin_swift("POST", f"/{container}/dlo", headers={"X-Object-Manifest": f"{container}/b/"})
    assert post.status_code == 202
    assert admin_swift("GET", f"/{container}/dlo").content == b"b/1"


def test_bulk_delete_reports(admin_swift: Swift, container: str) -> None:
    admin_swift("PUT", f"/{container}/d", data=b"x")
    text = admin_swift("POST", "?bulk-delete", data=f"/{container}/d\n",
                       headers={"Content-Type": "text/plain"})
    assert text.text == ("Number Deleted: 1\nNumber Not Found: 0\nResponse Body: \n"
                         "Response Status: 200 OK\nErrors:\n")
    xml = admin_swift("POST", "?bulk-delete", data=f"/{container}/d\n",
                      headers={"Content-Type": "text/plain", "Accept": "application/xml"})
    assert xml.text == ("<delete>\n<number_deleted>0</number_deleted>\n"
                        "<number_not_found>1</number_not_found>\n<response_body></response_body>\n"
                        "<response_status>200 OK</response_status>\n<errors>\n</errors>\n</delete>\n")
    as_json = admin_swift("POST", "?bulk-delete", data=f"/{container}/d\n",
                          headers={"Content-Type": "text/plain", "Accept": "application/json"})
    assert list(as_json.json()) == ["Response Status", "Response Body", "Number Deleted", "Number Not Found",
                                    "Errors"]


def test_temp_url_answers(admin_swift: Swift, container: str) -> None:
    admin_swift("PUT", f"/{container}/t.txt", data=b"temp")
    expires = int(time.time() + 60)
    url = f"/{container}/t.txt?temp_url_sig={'0' * 64}&temp_url_expires={expires}"
    denied = admin_swift("GET", url, token=None)
    assert (denied.status_code, denied.text) == (401, "401 Unauthorized: Temp URL invalid\n")
    assert denied.headers["Www-Authenticate"] == 'Swift realm="unknown"'


def test_missing_length_message(admin_swift: Swift) -> None:
    import http.client
    from urllib.parse import urlsplit

    target = urlsplit(admin_swift.url)
    connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
    try:
        connection.putrequest("PUT", f"{target.path}/{unique('c')}/o")
        connection.putheader("X-Auth-Token", admin_swift.token or "")
        connection.endheaders()
        response = connection.getresponse()
        assert (response.status, response.read()) == (411, b"Missing Content-Length header.")
    finally:
        connection.close()
