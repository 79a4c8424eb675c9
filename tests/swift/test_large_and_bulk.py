"""Static and dynamic large objects over raw HTTP, bulk delete and extract-archive."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Literal

import swiftclient

from swift.helpers import Swift


def _segments(conn: swiftclient.Connection, container: str, count: int = 3, size: int = 100) -> list[bytes]:
    datas = [bytes([65 + index]) * size for index in range(count)]
    for index, data in enumerate(datas):
        conn.put_object(container, f"seg/{index}", data)
    return datas


def test_slo_manifest_put_get_and_ranges(admin_swift: Swift, conn: swiftclient.Connection,
                                         container: str) -> None:
    datas = _segments(conn, container)
    manifest = [{"path": f"/{container}/seg/{i}", "etag": hashlib.md5(d).hexdigest(), "size_bytes": len(d)}
                for i, d in enumerate(datas)]
    put = admin_swift("PUT", f"/{container}/slo?multipart-manifest=put", data=json.dumps(manifest))
    assert put.status_code == 201
    slo_etag = hashlib.md5("".join(hashlib.md5(d).hexdigest() for d in datas).encode()).hexdigest()
    assert put.headers["Etag"] == f'"{slo_etag}"'
    whole = admin_swift("GET", f"/{container}/slo")
    assert whole.content == b"".join(datas)
    assert whole.headers["X-Static-Large-Object"] == "True"
    across = admin_swift("GET", f"/{container}/slo", headers={"Range": "bytes=95-104"})
    assert across.content == b"A" * 5 + b"B" * 5
    raw = admin_swift("GET", f"/{container}/slo?multipart-manifest=get").json()
    assert [entry["name"] for entry in raw] == [m["path"] for m in manifest]
    assert raw[0]["hash"] == manifest[0]["etag"] and raw[0]["bytes"] == 100
    deleted = admin_swift("DELETE", f"/{container}/slo?multipart-manifest=delete",
                          headers={"Accept": "application/json"})
    assert deleted.json()["Number Deleted"] == 4
    assert conn.get_container(container)[1] == []


def test_slo_bad_manifests(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    _segments(conn, container, count=1)
    wrong_etag = [{"path": f"/{container}/seg/0", "etag": "0" * 32, "size_bytes": 100}]
    response = admin_swift("PUT", f"/{container}/slo?multipart-manifest=put", data=json.dumps(wrong_etag))
    assert response.status_code == 400 and "Etag Mismatch" in response.text
    missing = [{"path": f"/{container}/nope", "etag": None, "size_bytes": None}]
    response = admin_swift("PUT", f"/{container}/slo?multipart-manifest=put", data=json.dumps(missing))
    assert response.status_code == 400 and "404 Not Found" in response.text
    not_json = admin_swift("PUT", f"/{container}/slo?multipart-manifest=put", data=b"{nope")
    assert not_json.status_code == 400
    ranged = [{"path": f"/{container}/seg/0", "range": "10-19"}]
    response = admin_swift("PUT", f"/{container}/slo?multipart-manifest=put", data=json.dumps(ranged))
    assert response.status_code == 201
    assert admin_swift("GET", f"/{container}/slo").content == b"A" * 10
    assert admin_swift("PUT", f"/{container}/slo2?multipart-manifest=put", data=json.dumps(ranged),
                       headers={"Etag": "0" * 32}).status_code == 422


def test_dlo_follows_its_prefix(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    datas = _segments(conn, container, count=2, size=10)
    conn.put_object(container, "dlo", b"", headers={"X-Object-Manifest": f"{container}/seg/"})
    assert conn.get_object(container, "dlo")[1] == b"".join(datas)
    conn.put_object(container, "seg/2", b"tail")
    headers, body = conn.get_object(container, "dlo")
    assert body == b"".join(datas) + b"tail"
    assert headers["etag"].startswith('"')
    assert admin_swift("GET", f"/{container}/dlo", headers={"Range": "bytes=8-11"}).content == b"AABB"
    bad = admin_swift("PUT", f"/{container}/dlo2", data=b"", headers={"X-Object-Manifest": "no-slash"})
    assert bad.status_code == 400


def test_bulk_delete(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    for key in ("a", "b c"):
        conn.put_object(container, key, b"x")
    body = f"/{container}/a\n/{container}/b%20c\n/{container}/missing\n"
    report = admin_swift("POST", "?bulk-delete", data=body, headers={"Accept": "application/json",
                                                                    "Content-Type": "text/plain"}).json()
    assert (report["Number Deleted"], report["Number Not Found"]) == (2, 1)
    assert report["Response Status"] == "200 OK"
    text = admin_swift("POST", "?bulk-delete", data=f"/{container}\n").text
    assert "Number Deleted: 1" in text


WriteMode = Literal["w", "w:gz", "w:bz2"]
ARCHIVE_KINDS: tuple[tuple[str, WriteMode], ...] = (("tar", "w"), ("tar.gz", "w:gz"), ("tar.bz2", "w:bz2"))


def _archive(mode: WriteMode, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_extract_archive(admin_swift: Swift, conn: swiftclient.Connection, container: str) -> None:
    for kind, mode in ARCHIVE_KINDS:
        body = _archive(mode, {"docs/readme.txt": b"read me", "img.png": b"png"})
        response = admin_swift("PUT", f"/{container}/{kind}?extract-archive={kind}", data=body,
                               headers={"Accept": "application/json"})
        assert response.json()["Number Files Created"] == 2
        headers, data = conn.get_object(container, f"{kind}/docs/readme.txt")
        assert (data, headers["content-type"]) == (b"read me", "text/plain")
    garbage = admin_swift("PUT", f"/{container}?extract-archive=tar.gz", data=b"not an archive")
    # Swift reports an unreadable archive in a 200 report, as it does every bulk outcome.
    assert (garbage.status_code, garbage.text) == (200, "Number Files Created: 0\nResponse Body: Invalid Tar "
                                                        "File: not a gzip file\nResponse Status: 400 Bad "
                                                        "Request\nErrors:\n")
    assert admin_swift("PUT", f"/{container}?extract-archive=zip", data=b"x").status_code == 400
