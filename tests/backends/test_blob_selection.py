"""Choosing the blob backend: `Settings.blobs_url` from STACKBOX_BLOBS or `stackbox serve --blobs`,
and a server that refuses to start on a URL it cannot use (instead of failing on the first upload)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackbox.cli import main
from stackbox.config import Settings
from stackbox.storage.blob_backend import check_backend_url, open_backend
from stackbox.storage.engine import Engine
from stackbox.storage.file_blobs import FileBlobs


def test_the_default_is_files_and_the_environment_or_flag_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACKBOX_BLOBS", raising=False)
    assert Settings.from_env().blobs_url == "file"
    monkeypatch.setenv("STACKBOX_BLOBS", "rados://pool?conf=/etc/ceph/ceph.conf")
    assert Settings.from_env().blobs_url == "rados://pool?conf=/etc/ceph/ceph.conf"
    assert Settings.from_env(blobs_url="file").blobs_url == "file"


@pytest.mark.parametrize("url", ["", "files", "s3://bucket", "rados://", "rados://pool?colour=red",
                                 "rados://pool?conf=a&conf=b", "rados://pool/path"])
def test_urls_that_name_no_backend_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        check_backend_url(url)
    with pytest.raises(ValueError):
        open_backend(url, tmp_path)
    with pytest.raises(ValueError):
        Engine(tmp_path / "data", blobs_url=url)


def test_serve_refuses_an_unusable_blob_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data-dir", str(tmp_path / "a"), "--blobs", "s3://bucket"]) == 1
    assert "unknown blob backend" in capsys.readouterr().err
    missing = tmp_path / "no-such-ceph.conf"
    assert main(["serve", "--data-dir", str(tmp_path / "b"), "--blobs", f"rados://pool?conf={missing}"]) == 1
    assert "cannot reach the blob backend" in capsys.readouterr().err


def test_the_engine_uses_files_by_default(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    try:
        assert isinstance(engine._blobs, FileBlobs) and not engine._blobs.remote
    finally:
        engine.close()
