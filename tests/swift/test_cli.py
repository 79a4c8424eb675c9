"""The real `swift` and `openstack` CLIs against stackbox, logged in through its Keystone."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import requests
import swiftclient

from cloud import RunningCloud
from swift.helpers import run_cli, unique


def _ok(cloud: RunningCloud, *args: str, cwd: Path | None = None) -> str:
    result = run_cli(cloud, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_swift_upload_list_download_stat_delete(cloud: RunningCloud, tmp_path: Path) -> None:
    name = unique("cli")
    (tmp_path / "s.txt").write_bytes(b"swift payload\n")
    assert _ok(cloud, "swift", "upload", name, "s.txt", cwd=tmp_path).strip() == "s.txt"
    assert name in _ok(cloud, "swift", "list").split()
    assert _ok(cloud, "swift", "list", name).split() == ["s.txt"]
    assert _ok(cloud, "swift", "download", name, "s.txt", "-o", "-") == "swift payload\n"
    stat = _ok(cloud, "swift", "stat", name, "s.txt")
    assert hashlib.md5(b"swift payload\n").hexdigest() in stat
    assert "Meta Mtime" in stat
    _ok(cloud, "swift", "post", name, "s.txt", "-m", "Color:red")
    assert "Meta Color: red" in _ok(cloud, "swift", "stat", name, "s.txt")
    account = _ok(cloud, "swift", "stat")
    assert "Containers:" in account and "Account: AUTH_" in account
    _ok(cloud, "swift", "delete", name, "s.txt")
    assert _ok(cloud, "swift", "list", name).split() == []
    _ok(cloud, "swift", "delete", name)


def test_swift_delete_many_uses_bulk_delete(cloud: RunningCloud, conn: swiftclient.Connection) -> None:
    name = unique("bulk")
    conn.put_container(name)
    for index in range(30):
        conn.put_object(name, f"o{index}", b"x")
    _ok(cloud, "swift", "delete", name)
    assert name not in _ok(cloud, "swift", "list").split()


def _segmented_upload(cloud: RunningCloud, tmp_path: Path, *flags: str) -> tuple[str, bytes]:
    name = unique("seg")
    data = os.urandom(2500)
    (tmp_path / "big.bin").write_bytes(data)
    _ok(cloud, "swift", "upload", name, "big.bin", "--segment-size", "1000", *flags, cwd=tmp_path)
    return name, data


def test_swift_upload_slo(cloud: RunningCloud, tmp_path: Path, conn: swiftclient.Connection) -> None:
    name, data = _segmented_upload(cloud, tmp_path, "--use-slo")
    headers = conn.head_object(name, "big.bin")
    assert headers["x-static-large-object"] == "True"
    assert int(headers["content-length"]) == len(data)
    assert len(conn.get_container(f"{name}_segments")[1]) == 3
    _ok(cloud, "swift", "download", name, "big.bin", "-o", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data
    assert conn.get_object(name, "big.bin", headers={"Range": "bytes=990-1010"})[1] == data[990:1011]
    _ok(cloud, "swift", "delete", name, "big.bin")
    assert conn.get_container(f"{name}_segments")[1] == []


def test_swift_upload_dlo(cloud: RunningCloud, tmp_path: Path, conn: swiftclient.Connection) -> None:
    name, data = _segmented_upload(cloud, tmp_path, "--use-dlo")
    headers = conn.head_object(name, "big.bin")
    assert headers["x-object-manifest"].startswith(f"{name}_segments/big.bin/")
    assert int(headers["content-length"]) == len(data)
    assert headers["etag"].startswith('"')
    _ok(cloud, "swift", "download", name, "big.bin", "-o", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data
    assert "Manifest:" in _ok(cloud, "swift", "stat", name, "big.bin")
    _ok(cloud, "swift", "delete", name, "big.bin")
    assert conn.get_container(f"{name}_segments")[1] == []


def test_swift_tempurl(cloud: RunningCloud, conn: swiftclient.Connection) -> None:
    name = unique("tmp")
    conn.put_container(name)
    conn.put_object(name, "doc.txt", b"temporary", headers={"X-Object-Meta-Secret": "s",
                                                            "X-Object-Meta-Public-Tag": "t"})
    _ok(cloud, "swift", "post", "-m", "Temp-URL-Key:sesame")
    path = f"{conn.url.split('127.0.0.1')[1].split('/', 1)[1]}/{name}/doc.txt"
    for digest in ("sha256", "sha512"):
        signed = _ok(cloud, "swift", "tempurl", "--digest", digest, "GET", "60", f"/{path}", "sesame").strip()
        response = requests.get(f"{cloud.object_url}{signed}", timeout=10)
        assert (response.status_code, response.content) == (200, b"temporary")
        disposition = response.headers["Content-Disposition"]
        assert disposition == "attachment; filename=\"doc.txt\"; filename*=UTF-8''doc.txt"
        assert "Expires" in response.headers
        assert "X-Object-Meta-Secret" not in response.headers
        assert response.headers["X-Object-Meta-Public-Tag"] == "t"
    wrong = _ok(cloud, "swift", "tempurl", "GET", "60", f"/{path}", "other").strip()
    assert requests.get(f"{cloud.object_url}{wrong}", timeout=10).status_code == 401
    put_url = _ok(cloud, "swift", "tempurl", "GET", "60", f"/{path}", "sesame").strip()
    assert requests.put(f"{cloud.object_url}{put_url}", data=b"x", timeout=10).status_code == 401


def test_swift_capabilities(cloud: RunningCloud) -> None:
    output = _ok(cloud, "swift", "capabilities")
    assert "slo" in output and "tempurl" in output and "max_file_size: 5368709122" in output


def test_openstack_object_commands(cloud: RunningCloud, tmp_path: Path) -> None:
    name = unique("os")
    (tmp_path / "hello.txt").write_text("hello from openstack object create\n")
    assert name in _ok(cloud, "openstack", "container", "create", name)
    created = _ok(cloud, "openstack", "object", "create", name, "hello.txt", cwd=tmp_path)
    assert hashlib.md5(b"hello from openstack object create\n").hexdigest() in created
    assert "hello.txt" in _ok(cloud, "openstack", "object", "list", name)
    show = _ok(cloud, "openstack", "object", "show", name, "hello.txt")
    assert "content-length" in show and "35" in show
    _ok(cloud, "openstack", "object", "save", name, "hello.txt", "--file", str(tmp_path / "saved.txt"))
    assert (tmp_path / "saved.txt").read_text() == "hello from openstack object create\n"
    container = _ok(cloud, "openstack", "container", "show", name)
    assert "object_count" in container and "Policy-0" in container
    _ok(cloud, "openstack", "object", "delete", name, "hello.txt")
    _ok(cloud, "openstack", "container", "delete", name)
